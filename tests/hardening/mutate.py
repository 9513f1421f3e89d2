"""Seeded byte-level mutations: the same seed always gives the same damaged file.

Each operator takes the bytes and a ``random.Random`` and returns new bytes. They model what
collected evidence really looks like after a crash, a bad copy or an attacker: cuts, noise,
NUL runs, giant lines, far too many fields, stray directives, quotes and broken encodings.
"""
from __future__ import annotations

import random
from collections.abc import Callable

Mutation = Callable[[bytes, random.Random], bytes]

# Tokens that have meant something to some parser somewhere.
HOSTILE_TOKENS: tuple[bytes, ...] = (
    b"#Fields: date time c-ip\n",
    b"#Fields:\n",
    b"#Fields: " + b" ".join(b"x-%d" % i for i in range(300)) + b"\n",
    b"#Software: Microsoft Exchange Server\n",
    b"#Date: not-a-date\n",
    b'"',
    b'"unterminated quote ',
    b"\\",
    b"\r",
    b"\r\r\n",
    b"\t",
    b"\x00",
    b"\xff\xfe",
    b"\xef\xbb\xbf",
    b"\xc3\x28",
    b"\xed\xa0\x80",
    b"\xf4\x90\x80\x80",
    b"\x1b[31m\x1b]8;;http://x\x07",
    b"[link=http://x]y[/link]",
    b"[/]",
    b"=cmd|' /C calc'!A0",
    b"'; DROP TABLE W3CIISLog; --",
    b"%s%s%n",
    b"{}",
    b"[[[[[[[[",
    b"9999-99-99 99:99:99",
    b"2021-02-30 25:61:61",
    b"-1",
    b"18446744073709551616",
    b"NaN",
    "\u202e".encode(),  # right-to-left override
)


def truncate(data: bytes, rng: random.Random) -> bytes:
    return data[: rng.randrange(len(data) + 1)] if data else data


def flip_bytes(data: bytes, rng: random.Random) -> bytes:
    if not data:
        return data
    buf = bytearray(data)
    for _ in range(rng.randint(1, max(1, len(buf) // 50))):
        buf[rng.randrange(len(buf))] = rng.randrange(256)
    return bytes(buf)


def insert_random_bytes(data: bytes, rng: random.Random) -> bytes:
    pos = rng.randrange(len(data) + 1)
    return data[:pos] + rng.randbytes(rng.randint(1, 200)) + data[pos:]


def insert_nul_run(data: bytes, rng: random.Random) -> bytes:
    pos = rng.randrange(len(data) + 1)
    return data[:pos] + b"\x00" * rng.choice((1, 7, 512, 8192)) + data[pos:]


def insert_hostile_token(data: bytes, rng: random.Random) -> bytes:
    pos = rng.randrange(len(data) + 1)
    return data[:pos] + rng.choice(HOSTILE_TOKENS) + data[pos:]


def duplicate_chunk(data: bytes, rng: random.Random) -> bytes:
    if not data:
        return data
    a = rng.randrange(len(data))
    b = min(len(data), a + rng.randint(1, 400))
    return data[:b] + data[a:b] * rng.randint(1, 4) + data[b:]


def delete_chunk(data: bytes, rng: random.Random) -> bytes:
    if not data:
        return data
    a = rng.randrange(len(data))
    return data[:a] + data[a + rng.randint(1, 200) :]


def swap_line_endings(data: bytes, rng: random.Random) -> bytes:
    return rng.choice(
        (
            data.replace(b"\n", b"\r\n"),
            data.replace(b"\r\n", b"\n"),
            data.replace(b"\n", b"\r"),
            data.replace(b"\n", b"\n\n   \n"),
        )
    )


def huge_line(data: bytes, rng: random.Random, *, size: int = 1 << 20) -> bytes:
    pos = data.rfind(b"\n", 0, rng.randrange(len(data) + 1)) + 1
    line = rng.choice((b"A", b"/owa/", b"x ", b"\xff")) * (size // 5 + 1)
    return data[:pos] + line[:size] + b"\n" + data[pos:]


def many_fields(data: bytes, rng: random.Random, *, count: int = 10_000) -> bytes:
    pos = data.rfind(b"\n", 0, rng.randrange(len(data) + 1)) + 1
    sep = rng.choice((b" ", b",", b"\t"))
    return data[:pos] + sep.join(b"f%d" % i for i in range(count)) + b"\n" + data[pos:]


# Cheap operators, used by the CI suite for many iterations.
CHEAP_MUTATIONS: tuple[Mutation, ...] = (
    truncate,
    flip_bytes,
    insert_random_bytes,
    insert_nul_run,
    insert_hostile_token,
    duplicate_chunk,
    delete_chunk,
    swap_line_endings,
)
# Operators that make big inputs; used a few times per run.
BIG_MUTATIONS: tuple[Mutation, ...] = (huge_line, many_fields)


def mutate(data: bytes, rng: random.Random, *, rounds: int | None = None, big: bool = False) -> bytes:
    """Apply 1-4 random operators (and at most one big one when ``big``)."""
    ops = list(CHEAP_MUTATIONS)
    for _ in range(rounds or rng.randint(1, 4)):
        data = rng.choice(ops)(data, rng)
    if big:
        data = rng.choice(BIG_MUTATIONS)(data, rng)
    return data
