"""The single choke point between evidence text and the screen.

Every string that came from evidence (paths, user agents, alert names, notes, file names)
passes through :func:`safe` (or :func:`escape_controls`) before any widget sees it. Two
dangers are closed here:

* Markup. Textual and Rich parse ``[...]`` in plain ``str`` as markup: ``[link=...]`` becomes
  a live hyperlink, ``[@click=app.quit]`` an action, ``[/]`` crashes rendering. We therefore
  only ever hand widgets ``rich.text.Text`` objects built with ``Text(str)``, which are never
  parsed.
* Terminal control. ``Text`` does not stop ESC, OSC, C1 or bidi overrides from reaching the
  terminal (Rich strips only a handful of C0 characters). Each such character is replaced by
  a visible escape (``\\x1b``, ``\\u202e``) drawn in a distinct style, so the analyst sees that
  the evidence contains it and a literal backslash in evidence stays distinguishable.
"""
from __future__ import annotations

import datetime as _dt
import re
from typing import Any, Iterable

from rich.style import Style
from rich.text import Text

from engine.jsonvalues import iso_utc

# Style of a visible escape: reverse video survives NO_COLOR and 256-colour terminals.
ESCAPE_STYLE = Style(reverse=True)
# Style of the characters a filter query matched.
MATCH_STYLE = Style(bold=True, underline=True)


def _dangerous_code_points() -> list[int]:
    points = list(range(0x00, 0x20))  # C0, including TAB, LF, CR: a cell is one line
    points.append(0x7F)  # DEL
    points.extend(range(0x80, 0xA0))  # C1 (CSI, OSC, ST as single code points)
    points.extend([0x061C, 0x200E, 0x200F])  # Arabic letter mark, LRM, RLM
    points.extend(range(0x200B, 0x200E))  # zero-width space / non-joiner / joiner
    points.extend(range(0x202A, 0x202F))  # bidi embeddings and overrides LRE..RLO
    points.extend([0x2028, 0x2029, 0x2060, 0xFEFF])  # line/paragraph separators, WJ, BOM
    points.extend(range(0x2066, 0x206A))  # bidi isolates LRI, RLI, FSI, PDI
    points.extend(range(0xD800, 0xE000))  # lone surrogates (from surrogateescape decoding)
    return points


def _escape_for(cp: int) -> str:
    return f"\\x{cp:02x}" if cp <= 0xFF else f"\\u{cp:04x}"


_TABLE = {cp: _escape_for(cp) for cp in _dangerous_code_points()}
_TABLE_KEEP_NEWLINES = {cp: esc for cp, esc in _TABLE.items() if cp != 0x0A}
_DANGEROUS = re.compile("[" + "".join(re.escape(chr(cp)) for cp in _TABLE) + "]")
_DANGEROUS_KEEP_NEWLINES = re.compile(
    "[" + "".join(re.escape(chr(cp)) for cp in _TABLE_KEEP_NEWLINES) + "]"
)


def display_str(value: Any) -> str:
    """A value as the analyst reads it, before escaping: ``None`` is empty, timestamps are
    ISO 8601 UTC, lists are joined with ``, ``."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, _dt.datetime):
        return iso_utc(value)
    if isinstance(value, (list, tuple)):
        return ", ".join(display_str(v) for v in value)
    return str(value)


def escape_controls(value: Any, *, keep_newlines: bool = False) -> str:
    """Plain text with every control, bidi and invisible formatting character replaced by a
    visible escape. Use for places that take a plain string (notifications with
    ``markup=False``, titles); prefer :func:`safe` wherever a ``Text`` is accepted."""
    text = display_str(value)
    return text.translate(_TABLE_KEEP_NEWLINES if keep_newlines else _TABLE)


def safe(value: Any, style: str | Style = "", *, keep_newlines: bool = False) -> Text:
    """A ``Text`` that shows ``value`` literally: never parsed as markup, control characters
    drawn as styled escapes."""
    raw = display_str(value)
    pattern = _DANGEROUS_KEEP_NEWLINES if keep_newlines else _DANGEROUS
    if pattern.search(raw) is None:
        return Text(raw, style=style, end="", no_wrap=not keep_newlines)
    text = Text("", style=style, end="", no_wrap=not keep_newlines)
    pos = 0
    for match in pattern.finditer(raw):
        if match.start() > pos:
            text.append(raw[pos:match.start()])
        text.append(_escape_for(ord(match.group())), style=ESCAPE_STYLE)
        pos = match.end()
    if pos < len(raw):
        text.append(raw[pos:])
    return text


def highlight(text: Text, spans: Iterable[tuple[int, int]], style: Style = MATCH_STYLE) -> Text:
    """A copy of ``text`` with the character ranges ``[start, end)`` styled: match highlight
    built from spans, never from markup."""
    result = text.copy()
    for start, end in spans:
        if end > start:
            result.stylize(style, start, end)
    return result
