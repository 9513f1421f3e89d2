"""safe_text: evidence text shows literally and never drives the terminal."""
from __future__ import annotations

import datetime as dt

from rich.console import Console
from rich.text import Text

from tui.safe_text import ESCAPE_STYLE, escape_controls, highlight, safe


def rendered(text: Text) -> str:
    console = Console(width=5000, force_terminal=True, color_system="truecolor")
    with console.capture() as capture:
        console.print(text, end="")
    return capture.get()


def test_markup_is_kept_as_literal_text():
    name = "[link=http://x]y[/link].png [@click=app.quit]q[/] [bold]b"
    assert safe(name).plain == name


def test_markup_never_becomes_a_link_or_action():
    text = safe("[link=http://evil]y[/link].png[@click=app.quit]x[/]")
    assert all(span.style == ESCAPE_STYLE for span in text.spans)
    assert "\x1b]8;" not in rendered(text)  # no OSC 8 hyperlink reaches the terminal


def test_escape_character_is_shown_as_a_visible_escape():
    assert safe("a\x1b[2Jb").plain == "a\\x1b[2Jb"


def test_osc_sequence_is_shown_as_visible_escapes():
    assert safe("\x1b]8;;http://x\x1b\\a").plain == "\\x1b]8;;http://x\\x1b\\a"


def test_no_control_character_reaches_the_terminal():
    hostile = "".join(chr(c) for c in range(0x00, 0x20)) + "\x7f" + "".join(
        chr(c) for c in range(0x80, 0xA0))
    out = rendered(safe(hostile))
    # The only ESC bytes in the output are Rich's own SGR styling (ESC [ ... m).
    stripped = __import__("re").sub(r"\x1b\[[0-9;]*m", "", out)
    assert not any(ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 for ch in stripped)


def test_c1_control_is_escaped():
    assert safe("a\x9bb").plain == "a\\x9bb"


def test_bidi_override_is_escaped():
    assert safe("invoice\u202egnp.exe").plain == "invoice\\u202egnp.exe"


def test_bidi_isolates_and_zero_width_characters_are_escaped():
    assert escape_controls("a\u2066b\u2069c\u200bd\ufeff") == "a\\u2066b\\u2069c\\u200bd\\ufeff"


def test_tab_and_newline_are_escaped_in_a_single_line_cell():
    assert safe("a\tb\nc").plain == "a\\x09b\\x0ac"


def test_newlines_can_be_kept_for_multi_line_detail_values():
    assert safe("a\nb\x1b", keep_newlines=True).plain == "a\nb\\x1b"


def test_escapes_are_styled_so_a_literal_backslash_stays_distinguishable():
    text = safe("C:\\x1b is text, \x1b is not")
    styled = [text.plain[s.start:s.end] for s in text.spans if s.style == ESCAPE_STYLE]
    assert styled == ["\\x1b"]


def test_non_ascii_text_is_left_alone():
    assert safe("Zürich – 東京 – مرحبا").plain == "Zürich – 東京 – مرحبا"


def test_values_are_shown_as_analysts_read_them():
    assert safe(None).plain == ""
    assert safe(dt.datetime(2021, 3, 2, 8, 1, 0, 500000)).plain == "2021-03-02T08:01:00.5Z"
    assert safe(["1.2.3.4", "5.6.7.8"]).plain == "1.2.3.4, 5.6.7.8"


def test_highlight_styles_the_given_ranges_without_changing_the_text():
    text = highlight(safe("[/]backup.zip"), [(3, 9)])
    assert text.plain == "[/]backup.zip"
    assert any((s.start, s.end) == (3, 9) for s in text.spans)
