"""The fast directive pass says exactly what the exact pass (LineCap + scan_directives) says,
or declines and leaves the file to it; w3c.directive_pass picks between them."""
from __future__ import annotations

import gzip
import io

import pytest
from hypothesis import given, settings, strategies as st

from engine.evidence import w3c_layout
from engine.evidence.w3c import directive_pass
from engine.evidence.w3c_layout import LineCap, scan_directives, scan_directives_fast
from tests.evidence.helpers import FIELDS, IIS_HEAD, row, write

LIMIT = 1024  # LineCap's smallest limit: long lines are cheap to make

# Lines that matter to one pass or the other: directives (several layouts, #Date), data,
# blank and whitespace-only lines, lone and doubled CRs, lines at and over the limit, bytes
# that are not UTF-8, a BOM.
PIECES = [
    b"#Software: Microsoft Internet Information Services 10.0", b"#Version: 1.0",
    b"#Date: 2021-01-02 00:00:00", b"#Fields: date time c-ip cs-uri-stem",
    b"#Fields: time c-ip cs-uri-stem", b"#Fields: date time cs-uri", b"#", b" #x",
    b"2021-01-01 00:00:00 198.51.100.1 /owa/a.js", b"00:00:01 198.51.100.2 /b", b"",
    b"\r", b"  ", b"\t", b"x\ry", b"a" * (LIMIT - 1) + b"\r", b"a" * LIMIT, b"a" * (LIMIT + 1),
    b"\xff\xfe#\x00", "\ufeff#Fields: date time c-ip".encode(), b"#Fields: a\r\r",
]


def _exact(data: bytes):
    return scan_directives(LineCap(io.BytesIO(data), LIMIT))


@st.composite
def _files(draw):
    lines = draw(st.lists(st.sampled_from(PIECES), max_size=14))
    newline = draw(st.sampled_from([b"\n", b"\r\n"]))
    ends = draw(st.lists(st.sampled_from([newline, newline, newline, b"\n", b"\r\n", b"\r"]),
                         min_size=len(lines), max_size=len(lines)))
    data = b"".join(line + end for line, end in zip(lines, ends))
    if draw(st.booleans()):
        data = data[:draw(st.integers(0, len(data)))]  # cut anywhere, even mid-line
    return data


@settings(max_examples=600, deadline=None)
@given(data=_files(), chunk=st.sampled_from([1, 2, 3, 7, 64, 1500, 16 * 1024 * 1024]),
       readinto=st.booleans())
def test_the_fast_pass_agrees_with_the_exact_pass_or_declines(data, chunk, readinto):
    class ReadOnly:  # a stream without readinto, as ForgivingGzip
        def __init__(self, raw: bytes) -> None:
            self._raw = io.BytesIO(raw)

        def read(self, size: int = -1) -> bytes:
            return self._raw.read(size)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(w3c_layout, "CHUNK", chunk)
        stream = io.BytesIO(data) if readinto else ReadOnly(data)
        fast = scan_directives_fast(stream, LIMIT)
        exact = _exact(data)
    if fast is not None:
        assert fast == exact


def test_the_fast_pass_takes_the_files_iis_writes(monkeypatch):
    data = (IIS_HEAD + FIELDS + "\r\n" + "".join(row() + "\r\n" for _ in range(50))
            + "#Software: Microsoft Internet Information Services 10.0\r\n" + FIELDS
            + "\r\n" + row()).encode()  # a header block again, and no final newline
    for chunk in (5, 100, 16 * 1024 * 1024):
        monkeypatch.setattr(w3c_layout, "CHUNK", chunk)
        fast = scan_directives_fast(io.BytesIO(data), LIMIT)
        assert fast is not None and fast == _exact(data)
        assert (fast.lines, fast.first_data_line, len(fast.directives)) == (57, 5, 6)
        lf = data.replace(b"\r\n", b"\n")
        assert scan_directives_fast(io.BytesIO(lf), LIMIT) == _exact(lf)


@pytest.mark.parametrize("odd", [
    b"\r\n",  # a blank line
    b"\n",  # a blank line in a CRLF file
    b"a\rb\r\n",  # a lone CR
    b"x" * (LIMIT + 1) + b"\r\n",  # over the line limit
])
def test_the_fast_pass_declines_what_the_exact_pass_must_read(odd):
    data = (IIS_HEAD + FIELDS + "\r\n" + row() + "\r\n").encode() + odd + row().encode()
    assert scan_directives_fast(io.BytesIO(data), LIMIT) is None


def test_the_fast_pass_declines_a_head_longer_than_the_first_data_line_lookahead():
    head = b"#Version: 1.0\n" * w3c_layout.FIRST_DATA_LINE_LOOKAHEAD
    data = head + (FIELDS + "\n" + row() + "\n").encode()
    assert scan_directives_fast(io.BytesIO(data), LIMIT) is None
    assert _exact(data).first_data_line is None  # the exact pass's own answer, kept


@pytest.mark.parametrize("gz", [False, True])
def test_directive_pass_gives_the_exact_answer_for_plain_and_odd_files(tmp_path, gz):
    ordinary = (IIS_HEAD + FIELDS + "\r\n" + row() + "\r\n").encode()
    odd = ordinary + b"x" * (LIMIT + 5) + b"\r\n\r\n" + row().encode() + b"\r\n"
    for name, data in (("plain", ordinary), ("odd", odd)):
        path = write(tmp_path / f"{name}.log", gzip.compress(data) if gz else data)
        info, damage, long_lines, count = directive_pass(path, gz, LIMIT)
        cap = LineCap(io.BytesIO(data), LIMIT)
        assert info == scan_directives(cap)
        assert (damage, long_lines, count) == (None, cap.long_lines, cap.long_line_count)
