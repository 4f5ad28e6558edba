"""Progress lines: counts and an ETA; to a file, a line every tenth of the way and at the end."""

import io

from handlers.progress import Progress


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_a_file_gets_a_line_per_tenth_with_counts_and_the_end():
    out = io.StringIO()
    progress = Progress(out)
    for done in range(0, 1001):
        progress("writing", done, 1000)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("writing: 0/1000 (0%)")
    assert "writing: 500/1000 (50%), about" in out.getvalue() and " left" in lines[5]
    assert lines[-1].startswith("writing: 1000/1000 (100%), done in")
    assert len(lines) == 11


def test_a_terminal_gets_one_rewritten_line_ending_with_a_newline():
    out = Terminal()
    progress = Progress(out)
    progress("re-encrypting", 1, 3)
    progress("re-encrypting", 3, 3)
    text = out.getvalue()
    assert text.startswith("\r\x1b[K") and text.endswith("done in 0 s\n") and text.count("\n") == 1
