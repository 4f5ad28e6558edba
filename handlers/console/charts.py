"""Charts of the dashboard's figures drawn on the server as SVG: no script, no external asset, and
only presentation attributes (no style attributes), so the console's CSP holds.

`chart(figure)` draws stacked or grouped bars, lines or horizontal bars from the figure's rows:
the first column labels the x axis (or the bars), the others are the series.
"""

from __future__ import annotations

from markupsafe import Markup, escape

from bot.dashboard.figures import Figure

WIDTH, HEIGHT = 760, 260
LEFT, RIGHT, TOP, BOTTOM = 46, 12, 14, 58
COLOURS = (
    "#0f3d6e",
    "#d9730d",
    "#2e7d32",
    "#b42318",
    "#6639ba",
    "#0b8a8a",
    "#9a6700",
    "#c2185b",
    "#57606a",
)
# the columns drawn, where not every column after the first
PLOTTED = {"overdue": (1, 2), "time_to_decide": (2, 3), "reviewers": (1, 3)}


def chart(figure: Figure) -> Markup:
    """The figure as an inline <svg> with a legend."""
    columns = PLOTTED.get(figure.key, tuple(range(1, len(figure.header))))
    series = [(figure.header[i], [_number(row[i]) for row in figure.rows]) for i in columns]
    labels = [str(row[0]) for row in figure.rows]
    draw = {"stacked": _bars, "bars": _bars, "lines": _lines, "hbars": _hbars}[figure.chart]
    body = draw(labels, series, stacked=figure.chart == "stacked")
    top = _hbars_height(labels) if figure.chart == "hbars" else HEIGHT - BOTTOM + 30
    per_row = 3
    legend = "".join(
        f'<g transform="translate({LEFT + 240 * (n % per_row)},{top + 18 * (n // per_row)})">'
        f'<rect width="10" height="10" fill="{COLOURS[n % len(COLOURS)]}"/>'
        f'<text x="14" y="9" font-size="11" fill="#1f2328">{escape(_short(name, 18))}</text></g>'
        for n, (name, _values) in enumerate(series)
    )
    height = top + 18 * -(-len(series) // per_row) + 4
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
        f'width="100%" role="img" aria-labelledby="chart-{figure.key}-title" '
        f'class="chart" data-figure="{figure.key}">'
        f'<title id="chart-{figure.key}-title">{escape(figure.title)}</title>'
        f"{body}{legend}</svg>"
    )


def _number(value) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _short(text: str, size: int) -> str:
    return text if len(text) <= size else text[: size - 1] + "…"


def _scale(top: float) -> float:
    """A round axis maximum at or above `top`."""
    if top <= 0:
        return 1
    step = 10 ** (len(str(int(top))) - 1)
    return float(-(-top // step) * step) if top > 1 else 1.0


def _axes(peak: float, labels: list[str]) -> str:
    plot_h = HEIGHT - TOP - BOTTOM
    out = []
    for share in (0, 0.5, 1):
        y = TOP + plot_h * (1 - share)
        out.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#d8dee4"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end" '
            f'fill="#57606a">{_tick(peak * share)}</text>'
        )
    every = max(1, -(-len(labels) // 10))
    slot = (WIDTH - LEFT - RIGHT) / max(1, len(labels))
    for n, label in enumerate(labels):
        if n % every == 0:
            x = LEFT + slot * (n + 0.5)
            out.append(
                f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" font-size="11" text-anchor="middle" '
                f'fill="#57606a">{escape(label[5:] if len(label) == 10 else label)}</text>'
            )
    return "".join(out)


def _tick(value: float) -> str:
    return f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"


def _bars(labels: list[str], series: list, stacked: bool) -> str:
    totals = [
        sum(v or 0 for _n, values in series for v in [values[i]])
        if stacked
        else max([values[i] or 0 for _n, values in series] or [0])
        for i in range(len(labels))
    ]
    peak = _scale(max(totals or [0]))
    plot_h = HEIGHT - TOP - BOTTOM
    slot = (WIDTH - LEFT - RIGHT) / max(1, len(labels))
    out = [_axes(peak, labels)]
    for i, label in enumerate(labels):
        base = 0.0
        for n, (name, values) in enumerate(series):
            value = values[i] or 0
            if not value:
                continue
            h = plot_h * value / peak
            if stacked:
                x, w, y = LEFT + slot * i + slot * 0.15, slot * 0.7, TOP + plot_h - base - h
                base += h
            else:
                w = slot * 0.7 / len(series)
                x, y = LEFT + slot * i + slot * 0.15 + w * n, TOP + plot_h - h
            out.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" '
                f'fill="{COLOURS[n % len(COLOURS)]}"><title>{escape(label)} '
                f"{escape(name)}: {_tick(value)}</title></rect>"
            )
    return "".join(out)


def _lines(labels: list[str], series: list, stacked: bool = False) -> str:
    peak = _scale(max([v for _n, values in series for v in values if v is not None] or [0]))
    plot_h = HEIGHT - TOP - BOTTOM
    slot = (WIDTH - LEFT - RIGHT) / max(1, len(labels))
    out = [_axes(peak, labels)]
    for n, (name, values) in enumerate(series):
        colour = COLOURS[n % len(COLOURS)]
        points = [
            (LEFT + slot * (i + 0.5), TOP + plot_h * (1 - v / peak), labels[i], v)
            for i, v in enumerate(values)
            if v is not None
        ]
        if len(points) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _l, _v in points)
            out.append(
                f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>'
            )
        out.extend(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"><title>{escape(label)} '
            f"{escape(name)}: {_tick(v)}</title></circle>"
            for x, y, label, v in points
        )
    return "".join(out)


def _hbars_height(labels: list[str]) -> int:
    return TOP + 26 * max(1, len(labels)) + 10


def _hbars(labels: list[str], series: list, stacked: bool = False) -> str:
    name, values = series[0]
    peak = _scale(max([v or 0 for v in values] or [0]))
    out = []
    start, span = 210, WIDTH - 210 - 60
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = TOP + 26 * i
        w = span * (value or 0) / peak
        out.append(
            f'<text x="{start - 8}" y="{y + 14}" font-size="12" text-anchor="end" '
            f'fill="#1f2328">{escape(_short(label, 16))}</text>'
            f'<rect x="{start}" y="{y + 2}" width="{w:.1f}" height="16" fill="{COLOURS[0]}">'
            f"<title>{escape(label)} {escape(name)}: {_tick(value or 0)}</title></rect>"
            f'<text x="{start + w + 6:.1f}" y="{y + 14}" font-size="12" '
            f'fill="#1f2328">{_tick(value or 0)}</text>'
        )
        for n, (other_name, others) in enumerate(series[1:], start=1):
            if others[i]:
                out.append(
                    f'<text x="{start + w + 40:.1f}" y="{y + 14}" font-size="11" '
                    f'fill="{COLOURS[n]}">{escape(other_name)} {_tick(others[i])}</text>'
                )
    return "".join(out)
