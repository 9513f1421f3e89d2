"""How far the readers have got into the file each ingest thread is reading now.

Why: progress used to move only when a file was finished, so one slow file (a gzip bomb
that decompresses to gigabytes) left the console saying "Reading evidence: 0/1 files" for
as long as it took. The Python passes over a file (the raw W3C directive pass and cleaned
copy, the export salvage) all read through LineCap, which counts here what it reads; the
ingest turns that into a progress report naming the file and its rate, at most every
PROGRESS_EVERY_S seconds, and its heartbeat reports the files listed by active() while
DuckDB reads them (DuckDB's own reads are not counted: it opens the file itself).
"""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator

PROGRESS_EVERY_S = 0.5


@dataclass
class FileMeter:
    path: str
    on_advance: Callable[["FileMeter"], None] | None = None
    started: float = field(default_factory=time.monotonic)
    bytes_read: int = 0  # decompressed bytes read so far, over every pass of the reader
    _last: float = 0.0

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self.started


_active: dict[int, FileMeter] = {}  # thread id -> the file that thread reads


@contextmanager
def reading(path: str, on_advance: Callable[[FileMeter], None] | None = None
            ) -> Iterator[FileMeter]:
    """Count what this thread reads from now on as ``path``'s; ``on_advance`` is called (in
    this thread) as the count grows, at most every PROGRESS_EVERY_S seconds."""
    meter = FileMeter(path, on_advance)
    key = threading.get_ident()
    _active[key] = meter
    try:
        yield meter
    finally:
        _active.pop(key, None)


def active() -> list[tuple[int, FileMeter]]:
    """(thread id, meter) of every file being read now."""
    return list(_active.items())


def current() -> FileMeter | None:
    """The meter of the file this thread reads now, if any. A reader whose bytes are pulled
    by DuckDB's own threads (an Arrow stream) adds to it directly: the heartbeat reports it."""
    return _active.get(threading.get_ident())


def count(n: int) -> None:
    """Called by the readers for every block they read (cheap: one dict lookup)."""
    meter = _active.get(threading.get_ident())
    if meter is None:
        return
    meter.bytes_read += n
    if meter.on_advance is not None:
        now = time.monotonic()
        if now - meter._last >= PROGRESS_EVERY_S:
            meter._last = now
            meter.on_advance(meter)
