"""What a reader's exception means for the analyst: what happened and where, in plain words.

DuckDB's error texts ("Not implemented Error: The Parallel CSV Reader currently does not
support a full read on this file.") describe DuckDB, not the evidence. A skipped file's
reason says what was wrong with the file and, when the text gives it, the line or byte
offset; the original text is kept apart (``detail``) for whoever debugs the reader.
"""
from __future__ import annotations

import re

# (pattern in the lower-cased text, what happened). First match wins; order matters.
_KNOWN: list[tuple[str, str]] = [
    (r"parallel csv reader currently does not support a full read",
     "a line too long or too odd for the CSV reader (see --max-line-bytes)"),
    (r"maximum line size of (?P<limit>\d+) bytes exceeded",
     "a line longer than the reader's {limit}-byte limit"),
    (r"maximum_object_size\"? of (?P<limit>\d+) bytes exceeded",
     "a JSON record longer than the reader's {limit}-byte limit"),
    (r"out of memory|failed to allocate", "the reader ran out of memory on this file"),
    (r"no magic bytes|magic bytes not found|invalid parquet|parquet file .* too small|corrupt"
     r"|deserialize thrift",
     "not a readable Parquet file (cut or damaged)"),
    (r"gzip|zlib|inflate|decompress", "damaged compressed (gzip) data"),
    (r"malformed json|json.*(?:parse|syntax)|invalid json|unexpected (?:character|end)",
     "malformed JSON"),
    (r"maximum nesting depth|nest(?:ed|ing).*(?:depth|deep)", "JSON nested too deeply"),
    (r"invalid unicode|utf-?8|unicode", "invalid UTF-8 text"),
    (r"could not convert|conversion error", "a value that is not of its column's type"),
    (r"unterminated quote|quote", "a quoted value that never ends"),
    (r"expected \d+ (?:values|columns)|too many columns|column count", "rows of the wrong width"),
    (r"permission denied", "permission denied"),
    (r"no such file|cannot open file|could not open", "the file could not be opened"),
]
_LINE = re.compile(r"\bline(?: number)?:?\s*(\d+)", re.I)
# A Python traceback inside the text (a stream's reader failed) names lines of our source,
# not of the evidence.
_SOURCE_LINE = re.compile(r'File "[^"\n]*", line \d+')
_BYTE = re.compile(r"\bbyte(?: position| offset)?:?\s*(\d+)", re.I)


def describe_read_error(exc: BaseException) -> tuple[str, str]:
    """(reason, detail): ``reason`` for the report, ``detail`` the first line of the raw
    text, shortened."""
    text = str(exc).strip()
    first = text.splitlines()[0][:300] if text else type(exc).__name__
    lowered = text.lower()
    what = None
    for pattern, meaning in _KNOWN:
        match = re.search(pattern, lowered)
        if match:
            what = meaning.format(**match.groupdict())
            break
    if what is None:
        what = f"the reader stopped on this file ({type(exc).__name__})"
    where = []
    if line := _LINE.search(_SOURCE_LINE.sub("", text)):
        where.append(f"line {int(line.group(1)):,}")
    if byte := _BYTE.search(text):
        where.append(f"byte {int(byte.group(1)):,}")
    reason = f"could not be read: {what}" + (f" at {', '.join(where)}" if where else "")
    return reason, first
