"""The top-level keys of each record of a JSON export, read as a stream of bytes.

Discovery recognises an export by its column names, and reads them from the first record
inside a 256 KiB head. A record may be longer than that (an alert with 100,000 entities, a
request whose first field holds a megabyte), and the keys that tell the table (``csUriStem``,
``SystemAlertId``) may come after the long value. :func:`record_keys` reads on past the head
in bounded memory: string values are stepped over, never held, only keys of the records
themselves are kept (each at most :data:`MAX_KEY_BYTES`), and nested values are counted in
depth, not built. Time is linear in the bytes read.

It is a recogniser, not a validator: malformed text yields whatever keys it showed so far.
"""
from __future__ import annotations

import json
import re
from typing import Iterable, Iterator

MAX_KEY_BYTES = 4096  # a longer "key" is not a column name of either table
MAX_KEYS = 10_000  # keys kept per record: a flood of keys must not fill memory

_IN_STRING = re.compile(rb'["\\]')
_STRUCTURE = re.compile(rb'["{}\[\]:,]')
# Inside a nested value only brackets matter: whole strings and scalars are stepped over by
# one match (a string cut off by the end of the chunk stops it at its opening quote), and a
# run of opening or closing brackets by another.
_NESTED_RUN = re.compile(rb'(?:[^"{}\[\]]+|"[^"\\]*(?:\\.[^"\\]*)*")*')
_OPENERS = re.compile(rb'[\[{]+')
_CLOSERS = re.compile(rb'[\]}]+')


def record_keys(chunks: Iterable[bytes]) -> Iterator[list[str]]:
    """Keys of each record in order, for JSON lines (``{...}`` one after another) or a JSON
    array of records (``[{...}, ...]``). A record the chunks end inside yields the keys it
    showed up to there."""
    depth = 0
    record_depth: int | None = None  # 1: JSON lines; 2: records inside an array
    in_string = escaped = expect_key = False
    key: bytearray | None = None  # the key being read, when the string is one
    finished_key: bytes | None = None  # a key whose ':' has not come yet
    keys: list[str] | None = None
    for chunk in chunks:
        pos, end = 0, len(chunk)
        while pos < end:
            if in_string:
                if escaped:  # the byte after a backslash, whatever it is
                    if key is not None:
                        key += chunk[pos:pos + 1]
                    escaped, pos = False, pos + 1
                    continue
                match = _IN_STRING.search(chunk, pos)
                stop = match.start() if match else end
                if key is not None:
                    key += chunk[pos:stop]
                    if len(key) > MAX_KEY_BYTES:
                        key = None
                if match is None:
                    pos = end
                elif chunk[stop] == 0x5C:  # backslash
                    if key is not None:
                        key += b"\\"
                    escaped, pos = True, stop + 1
                else:
                    in_string, pos = False, stop + 1
                    if key is not None:
                        finished_key, key = bytes(key), None
                continue
            if record_depth is not None and depth > record_depth:
                pos = _NESTED_RUN.match(chunk, pos).end()
                run = _OPENERS.match(chunk, pos)
                if run:
                    depth, pos = depth + run.end() - pos, run.end()
                    continue
                run = _CLOSERS.match(chunk, pos)
                if run:  # down to the record's own depth at most: its end is handled below
                    steps = min(run.end() - pos, depth - record_depth)
                    depth, pos = depth - steps, pos + steps
                    continue
                if pos == end:
                    break
            match = _STRUCTURE.search(chunk, pos)
            if match is None:
                break
            char, pos = chunk[match.start()], match.end()
            if record_depth is None:
                if char not in b"{[":
                    return  # text before the first record: not records
                record_depth = 1 if char == 0x7B else 2
            if char == 0x22:  # '"'
                in_string = True
                key = bytearray() if expect_key and depth == record_depth else None
                expect_key = False
            elif char in b"{[":
                depth += 1
                if depth == record_depth:
                    keys, expect_key, finished_key = [], char == 0x7B, None
            elif char in b"}]":
                if depth == record_depth and keys is not None:
                    yield keys
                    keys = None
                depth -= 1
                if depth < 0:
                    return
            elif depth == record_depth:
                if char == 0x2C:  # ','
                    expect_key, finished_key = True, None
                elif finished_key is not None and keys is not None and len(keys) < MAX_KEYS:
                    try:  # ':' after a key
                        keys.append(json.loads(b'"' + finished_key + b'"'))
                    except ValueError:
                        pass  # not a key a table could have
                    finished_key = None
    if keys:
        yield keys
