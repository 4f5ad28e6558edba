"""The college's own facts, as its documents state them and its settings override them: the
registrar's office (address, hours, telephone), campus display names, how soon each campus's
records can be queried, and the peak season. Built once from the config (`College.from_config`)
and reached by every reply template as `college`, so a fact is told the same way everywhere.

A fact that is not set is left out of the replies (an empty telephone is no line at all), never
shown as a placeholder."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

MAIN = "main"
ANY_CAMPUS = "*"
OTHER_CAMPUS_NAME = "分校区"


def parse_mapping(text: str | None) -> dict[str, str]:
    """`code:value,code:value` (full-width ：and ，accepted) as a dict; blank parts are skipped."""
    out: dict[str, str] = {}
    for part in (text or "").replace("，", ",").replace("：", ":").split(","):
        code, sep, value = part.partition(":")
        if sep and code.strip() and value.strip():
            out[code.strip()] = value.strip()
    return out


def parse_months(text: str | None) -> tuple[int, ...]:
    """`6,7` (or `6-7`) as the months 6 and 7; anything outside 1-12 is ignored."""
    months: list[int] = []
    for part in (text or "").replace("，", ",").split(","):
        part = part.strip()
        if not part:
            continue
        first, _, last = part.partition("-")
        try:
            lo, hi = int(first), int(last or first)
        except ValueError:
            continue
        months.extend(m for m in range(lo, hi + 1) if 1 <= m <= 12)
    return tuple(sorted(set(months)))


def _fact(config: dict, name: str, default: str) -> str:
    """A fact's setting, or the documents' default when it is unset or blank."""
    return (config.get(name) or "").strip() or default


@dataclass(frozen=True)
class College:
    """What the replies say about the college. The defaults follow its documents."""

    name: str = "示范职业技术学院"
    office: str = "行政楼A203"
    hours: str = ""  # e.g. 工作日 8:30-11:30，14:00-17:00; empty: not told
    phone: str = ""  # empty: not told
    campus_names: dict[str, str] = field(default_factory=lambda: {MAIN: "主校区"})
    # working days after leaving until a campus's records can be queried; 0 = real time
    sync_days: dict[str, int] = field(default_factory=lambda: {MAIN: 0, ANY_CAMPUS: 3})
    peak_months: tuple[int, ...] = (6, 7)
    # the other channels graduates are sent to (bot/guide): when data appear, how long, what costs
    chsi_data_from: str = "毕业当年7月起"
    chsi_report_time: str = "2-3个工作日"
    chsi_fee: str = "查询免费，下载认证报告收费"
    chuanjiaotong_time: str = "1个工作日内"
    chuanjiaotong_fee: str = ""  # empty: not told
    lost_certificate_fee: int = 0  # yuan for a 学历证明书 in place of a lost certificate; 0: free
    # how long personal data is kept (days), told in the consent notice and enforced by the sweep
    keep_closed_appeals_days: int = 365  # a closed ticket's personal fields and photos
    keep_audit_days: int = 1095  # audit rows (the operation log the law asks for)
    keep_alipay_notifications_days: int = 90

    @classmethod
    def from_config(cls, config: dict) -> College:
        """From the GRADCERT_SCHOOL_NAME, GRADCERT_OFFICE*, GRADCERT_CAMPUS_NAMES,
        GRADCERT_SYNC_WORKING_DAYS and GRADCERT_PEAK_MONTHS settings."""
        sync = {
            code: int(days)
            for code, days in parse_mapping(config.get("GRADCERT_SYNC_WORKING_DAYS")).items()
            if days.isdigit()
        }
        return cls(
            name=config.get("GRADCERT_SCHOOL_NAME") or cls.name,
            office=(config.get("GRADCERT_OFFICE_ADDRESS") or "").strip(),
            hours=(config.get("GRADCERT_OFFICE_HOURS") or "").strip(),
            phone=(config.get("GRADCERT_OFFICE_PHONE") or "").strip(),
            campus_names=parse_mapping(config.get("GRADCERT_CAMPUS_NAMES")),
            sync_days=sync or {MAIN: 0, ANY_CAMPUS: 3},
            peak_months=parse_months(config.get("GRADCERT_PEAK_MONTHS")),
            chsi_data_from=_fact(config, "GRADCERT_CHSI_DATA_FROM", cls.chsi_data_from),
            chsi_report_time=_fact(config, "GRADCERT_CHSI_REPORT_TIME", cls.chsi_report_time),
            chsi_fee=_fact(config, "GRADCERT_CHSI_FEE", cls.chsi_fee),
            chuanjiaotong_time=_fact(config, "GRADCERT_CHUANJIAOTONG_TIME", cls.chuanjiaotong_time),
            chuanjiaotong_fee=(config.get("GRADCERT_CHUANJIAOTONG_FEE") or "").strip(),
            lost_certificate_fee=max(0, int(config.get("GRADCERT_LOST_CERTIFICATE_FEE") or 0)),
            keep_closed_appeals_days=int(
                config.get("GRADCERT_KEEP_CLOSED_APPEALS_DAYS") or cls.keep_closed_appeals_days
            ),
            keep_audit_days=int(config.get("GRADCERT_KEEP_AUDIT_DAYS") or cls.keep_audit_days),
            keep_alipay_notifications_days=int(
                config.get("GRADCERT_KEEP_ALIPAY_NOTIFICATIONS_DAYS")
                or cls.keep_alipay_notifications_days
            ),
        )

    def campus(self, code: str | None) -> str:
        """A campus as people know it: its display name, never its raw code."""
        if code in self.campus_names:
            return self.campus_names[code]
        return "主校区" if code == MAIN else OTHER_CAMPUS_NAME

    def sync_working_days(self, source: str | None) -> int:
        """Working days after leaving until a record from `source` can be queried (0: at once)."""
        days = self.sync_days.get(source or "", self.sync_days.get(ANY_CAMPUS))
        if days is None:
            return 0 if source == MAIN else 3
        return days

    def is_peak(self, day: date) -> bool:
        """True in the peak-season months (the replies suggest coming back later)."""
        return day.month in self.peak_months

    @property
    def visit(self) -> str:
        """Where to go in person, with the hours when they are set: 行政楼A203（工作日 …）."""
        place = self.office or "学校学籍管理部门"
        return f"{place}（{self.hours}）" if self.hours else place

    @property
    def phone_note(self) -> str:
        """`，电话 …` when a telephone is set; empty otherwise (the sentence reads without it)."""
        return f"，电话 {self.phone}" if self.phone else ""
