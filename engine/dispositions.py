"""The analyst's marks on findings, kept so that no acknowledged mark is ever lost.

Storage is one SQLite file inside the case folder (``Case.dispositions_path``), in WAL mode
with ``synchronous=FULL``: a commit returns only after its WAL frames are fsynced, so a mark
that ``mark()`` returned survives ``kill -9`` and power loss. Several processes (two SSH
sessions on one case) write through SQLite's own locking: every write is a
``BEGIN IMMEDIATE`` transaction with a busy timeout and a retry loop, so no writer overwrites
another's change.

The table is append-only: each row is one change (who, when, from what to what, note) and the
current state of a finding is its latest change. Rows are never updated or deleted, so any
readable copy of a row is a correct copy, and each row carries a CRC-32 of its own fields.
That is what makes repair trustworthy: when the file fails SQLite's ``quick_check`` (a
truncated or overwritten file), it is moved aside to ``<name>.<utc stamp>.corrupt`` in the
same folder, every table page of the damaged file and every committed frame of its WAL is
scanned for rows whose checksum matches, and a fresh store is rebuilt from them; ``warnings``
says what happened and what may be missing.

A lock file beside the store (``<name>.lock``) is held shared by every open store and
exclusively only while repairing, so a repair never moves the file from under a process
that still has it open. When another process holds the damaged store open, this one loads
what it can read and stays read-only until the store is reopened alone.
"""
from __future__ import annotations

import datetime as _dt
import getpass
import json
import os
import random
import shutil
import sqlite3
import struct
import threading
import time
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

try:  # POSIX only; without it (Windows) repair simply skips the cross-process guard.
    import fcntl
except ImportError:  # pragma: no cover - exercised only on Windows
    fcntl = None  # type: ignore[assignment]

UNREVIEWED = "unreviewed"
DISPOSITIONS = ("unreviewed", "true-positive", "false-positive", "benign", "needs-follow-up")

SCHEMA_VERSION = 1
PAGE_SIZE = 4096
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
# Columns of the changes table, in table order; recovery decodes records in this order.
_COLUMNS = ("seq", "finding_id", "rule_id", "disposition", "note", "analyst", "marked_at", "checksum")
_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS changes (
        seq INTEGER PRIMARY KEY,
        finding_id TEXT NOT NULL,
        rule_id TEXT NOT NULL,
        disposition TEXT NOT NULL,
        note TEXT NOT NULL,
        analyst TEXT NOT NULL,
        marked_at TEXT NOT NULL,
        checksum INTEGER NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS changes_by_finding ON changes (finding_id, seq)",
)
_SELECT = "SELECT " + ", ".join(_COLUMNS) + " FROM changes"


class DispositionError(Exception):
    """The store cannot do what was asked; the message says why and names the file."""


@dataclass(frozen=True)
class Mark:
    """The current state of one finding: its latest change."""
    finding_id: str
    rule_id: str
    disposition: str
    note: str
    analyst: str
    marked_at: _dt.datetime  # aware, UTC


@dataclass(frozen=True)
class Change:
    """One entry of a finding's history: ``previous`` -> ``disposition`` by ``analyst``."""
    seq: int  # commit order across the whole store
    finding_id: str
    rule_id: str
    previous: str
    disposition: str
    note: str
    analyst: str
    changed_at: _dt.datetime  # aware, UTC

    def as_mark(self) -> Mark:
        return Mark(self.finding_id, self.rule_id, self.disposition, self.note, self.analyst,
                    self.changed_at)


@dataclass(frozen=True)
class _Row:
    seq: int
    finding_id: str
    rule_id: str
    disposition: str
    note: str
    analyst: str
    marked_at: str
    checksum: int

    def as_tuple(self) -> tuple:
        return (self.seq, self.finding_id, self.rule_id, self.disposition, self.note,
                self.analyst, self.marked_at, self.checksum)


def default_analyst() -> str:
    """The login name; ``getpass`` raises when neither the environment nor the password
    database knows the user (containers running under a bare uid)."""
    try:
        name = getpass.getuser().strip()
    except Exception:
        name = ""
    if name:
        return name
    return f"uid-{os.getuid()}" if hasattr(os, "getuid") else "unknown"


def _row_checksum(seq: int, finding_id: str, rule_id: str, disposition: str, note: str,
                  analyst: str, marked_at: str) -> int:
    payload = json.dumps([seq, finding_id, rule_id, disposition, note, analyst, marked_at],
                         ensure_ascii=False, separators=(",", ":"))
    return zlib.crc32(payload.encode("utf-8"))


def _parse_time(text: str) -> _dt.datetime:
    # fromisoformat reads the trailing Z (Python 3.11) and is ~30x faster than strptime,
    # which matters when the console loads tens of thousands of marks.
    return _dt.datetime.fromisoformat(text).astimezone(_dt.timezone.utc)


def _format_time(ts: _dt.datetime) -> str:
    return ts.astimezone(_dt.timezone.utc).strftime(_TIME_FORMAT)


def _check_text(what: str, value: str) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be text, not {type(value).__name__}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        # Lone surrogates: undecodable bytes smuggled in through argv or a terminal.
        raise ValueError(f"{what} is not valid Unicode text (it holds undecodable bytes)") from None


def _is_busy(error: sqlite3.Error) -> bool:
    name = getattr(error, "sqlite_errorname", "") or ""
    return name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in str(error)


def _is_damage(error: sqlite3.Error) -> bool:
    name = getattr(error, "sqlite_errorname", "") or ""
    return (name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB", "SQLITE_IOERR_SHORT_READ"))
            or "malformed" in str(error) or "not a database" in str(error))


def fsync_dir(folder: Path) -> None:
    """Make a rename or a new file in ``folder`` durable (the directory entry itself)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # platforms without directory handles: rename is as durable as it gets
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class _LockFile:
    """A flock beside the store: shared while open, exclusive while repairing."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire_shared(self) -> None:
        if fcntl is None:
            return
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self._fd, fcntl.LOCK_SH)

    def try_exclusive(self, attempts: int = 6) -> bool:
        """True when this process now holds the store alone. Converting a flock is not
        atomic, so on failure the shared lock is taken again before returning."""
        if fcntl is None or self._fd is None:
            return True
        for attempt in range(attempts):
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                fcntl.flock(self._fd, fcntl.LOCK_SH)
                time.sleep(0.02 + random.random() * 0.08 * (attempt + 1))
        return False

    def downgrade(self) -> None:
        if fcntl is not None and self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_SH)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None


class DispositionStore:
    """Marks of one case. Safe to share between threads; safe to open from many processes.

    ``current()`` omits findings whose latest change is back to ``unreviewed`` unless asked.
    """

    def __init__(self, path: Path, *, timeout: float = 60.0) -> None:
        self.path = Path(path)
        self.timeout = timeout
        self.warnings: list[str] = []
        self.read_only = False
        self._thread_lock = threading.RLock()
        self._con: sqlite3.Connection | None = None
        if not self.path.parent.is_dir():
            raise DispositionError(f"case folder {self.path.parent} does not exist")
        self._lock = _LockFile(self.path.with_name(self.path.name + ".lock"))
        try:
            self._lock.acquire_shared()
            self._open()
        except OSError as exc:
            self._lock.release()
            raise DispositionError(f"cannot open dispositions store {self.path}: {exc}") from exc
        except BaseException:
            self._lock.release()
            raise

    # -- opening, checking and repairing ------------------------------------------------
    def _open(self) -> None:
        if not self.path.exists():
            _create_store(self.path, [])
        problem = self._try_connect()
        if problem is None:
            _remove_stale_temporaries(self.path)
            return
        if self._lock.try_exclusive():
            try:
                # Another process may have repaired it while our lock was being converted.
                if not self.path.exists():
                    _create_store(self.path, [])
                problem = self._try_connect()
                if problem is not None:
                    self._repair(problem)
                    problem = self._try_connect()
                    if problem is not None:
                        raise DispositionError(
                            f"dispositions store {self.path} is still damaged after repair: {problem}")
            finally:
                self._lock.downgrade()
            return
        problem = self._try_connect()
        if problem is None:
            return
        rows, skipped = recover_rows(self.path)
        self._con = _memory_store(rows)
        self.read_only = True
        self.warnings.append(
            f"dispositions store {self.path} is damaged ({problem}) and another exhunt process "
            f"has it open, so it was not repaired: showing the {len(rows)} changes that could be "
            f"read ({skipped} damaged records skipped); marks cannot be saved until every other "
            f"exhunt session on this case is closed and the case is reopened")

    def _try_connect(self) -> str | None:
        """Open and verify the store; None when healthy (``self._con`` set), else why not."""
        self._close_connection()
        try:
            if self.path.stat().st_size == 0:
                # exhunt creates stores complete (temp file + link), never empty.
                return "the file is empty"
        except FileNotFoundError:
            return "the file is missing"
        deadline = time.monotonic() + self.timeout
        while True:
            con = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None,
                                  check_same_thread=False)
            try:
                mode = con.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                con.execute("PRAGMA synchronous=FULL")
                version = con.execute("PRAGMA user_version").fetchone()[0]
                checks = [r[0] for r in con.execute("PRAGMA quick_check").fetchall()]
                if checks != ["ok"]:
                    con.close()
                    return "integrity check: " + "; ".join(checks[:3])
                columns = [r[1] for r in con.execute("PRAGMA table_info(changes)").fetchall()]
                if tuple(columns) != _COLUMNS:
                    con.close()
                    return "it has no changes table of the expected shape"
                if version > SCHEMA_VERSION:
                    con.close()
                    raise DispositionError(
                        f"dispositions store {self.path} was written by a newer exhunt "
                        f"(format {version}, this one reads {SCHEMA_VERSION})")
                if mode.lower() != "wal":
                    self.warnings.append(
                        f"dispositions store {self.path} could not use WAL mode (journal mode "
                        f"{mode!r}; network filesystem?): marks are still durable, but slower")
                # The WAL file now exists; make its directory entry durable too, so the
                # first fsynced commit cannot vanish with a lost entry on power loss.
                fsync_dir(self.path.parent)
                self._con = con
                return None
            except sqlite3.Error as exc:
                con.close()
                if _is_busy(exc) and time.monotonic() < deadline:
                    time.sleep(0.01 + random.random() * 0.05)
                    continue
                if _is_damage(exc):
                    return str(exc)
                raise DispositionError(f"cannot open dispositions store {self.path}: {exc}") from exc

    def _repair(self, problem: str) -> None:
        self._close_connection()
        rows, skipped = recover_rows(self.path)
        stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        aside = self.path.with_name(f"{self.path.name}.{stamp}.corrupt")
        # Order matters if this process dies half-way: the damaged file is kept under its
        # new name before anything else moves, the store path never goes missing, and the
        # old WAL is gone before the rebuilt file appears (SQLite would replay it into it).
        try:
            os.link(self.path, aside)
        except OSError:  # filesystems without hard links
            shutil.copy2(self.path, aside)
        wal = Path(str(self.path) + "-wal")
        if wal.exists():
            os.replace(wal, Path(str(aside) + "-wal"))
        shm = Path(str(self.path) + "-shm")
        if shm.exists():
            shm.unlink()  # an index of the WAL, rebuilt from the WAL itself
        _create_store(self.path, rows, replace=True)
        findings = len({r.finding_id for r in rows})
        seqs = sorted(r.seq for r in rows)
        gaps = (seqs[-1] - len(seqs)) if seqs else 0
        detail = (f"recovered {len(rows)} changes for {findings} findings"
                  + (f", up to change #{seqs[-1]} at {_latest_time(rows)}" if seqs else ""))
        if gaps:
            detail += f"; {gaps} earlier changes could not be read"
        if skipped:
            detail += f"; {skipped} damaged records skipped"
        self.warnings.append(
            f"dispositions store {self.path} was damaged ({problem}). The damaged file was "
            f"moved to {aside.name} in the case folder and the store rebuilt: {detail}. Changes "
            f"made after the damage may be missing; check recent marks.")

    # -- writing ------------------------------------------------------------------------
    def mark(self, finding_ids: Sequence[str], disposition: str, *,
             rule_id: str | Mapping[str, str] = "", note: str | None = None,
             analyst: str | None = None) -> list[Mark]:
        """Set the disposition of each finding; durable on return (fsynced).

        ``note=None`` keeps each finding's current note, except that going back to
        ``unreviewed`` clears the note too (it stays in the history). A change that would
        leave disposition and note as they are is not recorded again. ``rule_id`` is one id
        for all findings or a mapping finding id -> rule id; a finding missing from it keeps
        the rule id it already had. Returns each finding's mark after the call.
        """
        if disposition not in DISPOSITIONS:
            raise ValueError(f"unknown disposition {disposition!r}; expected one of "
                             + ", ".join(DISPOSITIONS))
        return self._change(finding_ids, disposition, rule_id, note, analyst)

    def set_note(self, finding_ids: Sequence[str], note: str, *, analyst: str | None = None,
                 rule_id: str | Mapping[str, str] = "") -> list[Mark]:
        """Replace the note of each finding and keep its disposition (read in the same
        transaction, so a disposition another session just set is not overwritten)."""
        if note is None:
            raise ValueError("set_note needs a note (use an empty one to clear it)")
        return self._change(finding_ids, None, rule_id, note, analyst)

    def _change(self, finding_ids: Sequence[str], disposition: str | None,
                rule_id: str | Mapping[str, str], note: str | None,
                analyst: str | None) -> list[Mark]:
        """One transaction recording a change per finding; ``disposition=None`` keeps each
        finding's own."""
        if isinstance(finding_ids, str):
            finding_ids = [finding_ids]
        ids = list(dict.fromkeys(finding_ids))
        for fid in ids:
            _check_text("finding id", fid)
            if not fid:
                raise ValueError("finding id is empty")
        if note is not None:
            _check_text("note", note)
        who = (analyst or "").strip() or default_analyst()
        _check_text("analyst", who)
        if isinstance(rule_id, Mapping):
            for rid in rule_id.values():
                _check_text("rule id", rid)
        else:
            _check_text("rule id", rule_id)
        if self.read_only:
            raise DispositionError(
                f"dispositions store {self.path} is open read-only because it is damaged and "
                f"in use by another exhunt process; close the other sessions and reopen the case")
        if not ids:
            return []
        stamp = _format_time(_dt.datetime.now(_dt.timezone.utc))

        def write(con: sqlite3.Connection) -> list[Mark]:
            seq = con.execute("SELECT coalesce(max(seq), 0) FROM changes").fetchone()[0]
            marks = []
            for fid in ids:
                latest = con.execute(_SELECT + " WHERE finding_id = ? ORDER BY seq DESC LIMIT 1",
                                     (fid,)).fetchone()
                previous = _Row(*latest) if latest else None
                old = (previous.disposition, previous.note) if previous else (UNREVIEWED, "")
                rid = rule_id.get(fid, "") if isinstance(rule_id, Mapping) else rule_id
                if not rid and previous is not None:
                    rid = previous.rule_id
                new_disposition = old[0] if disposition is None else disposition
                if note is not None:
                    new_note = note
                elif new_disposition == UNREVIEWED:
                    new_note = ""
                else:
                    new_note = old[1]
                if old == (new_disposition, new_note):
                    marks.append(_mark_of(previous) if previous else
                                 Mark(fid, rid, UNREVIEWED, "", "", _parse_time(stamp)))
                    continue
                seq += 1
                row = _Row(seq, fid, rid, new_disposition, new_note, who, stamp,
                           _row_checksum(seq, fid, rid, new_disposition, new_note, who, stamp))
                con.execute("INSERT INTO changes VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row.as_tuple())
                marks.append(_mark_of(row))
            return marks

        return self._write(write)

    def _write(self, fn):
        deadline = time.monotonic() + self.timeout
        while True:
            with self._thread_lock:
                con = self._connection()
                try:
                    con.execute("BEGIN IMMEDIATE")
                    try:
                        result = fn(con)
                        con.execute("COMMIT")
                        return result
                    except BaseException:
                        if con.in_transaction:
                            con.execute("ROLLBACK")
                        raise
                except sqlite3.Error as exc:
                    if not (_is_busy(exc) and time.monotonic() < deadline):
                        raise DispositionError(
                            f"could not save to dispositions store {self.path}: {exc}") from exc
            time.sleep(0.005 + random.random() * 0.02)

    # -- reading ------------------------------------------------------------------------
    def current(self, *, include_unreviewed: bool = False) -> dict[str, Mark]:
        """finding id -> latest mark; findings back at ``unreviewed`` only when asked."""
        sql = ("SELECT finding_id, rule_id, disposition, note, analyst, marked_at FROM changes"
               " WHERE seq IN (SELECT max(seq) FROM changes GROUP BY finding_id) ORDER BY seq")
        with self._thread_lock:
            try:
                rows = self._connection().execute(sql).fetchall()
            except sqlite3.Error as exc:
                raise DispositionError(f"could not read dispositions store {self.path}: {exc}") from exc
        parse = _parse_time
        return {fid: Mark(fid, rule, disposition, note, analyst, parse(stamp))
                for fid, rule, disposition, note, analyst, stamp in rows
                if include_unreviewed or disposition != UNREVIEWED}

    def get(self, finding_id: str) -> Mark | None:
        """The latest mark of one finding (None when it was never marked)."""
        rows = self._read(_SELECT + " WHERE finding_id = ? ORDER BY seq DESC LIMIT 1", (finding_id,))
        return _mark_of(rows[0]) if rows else None

    def history(self, finding_id: str) -> list[Change]:
        """Every change of one finding, oldest first."""
        return _changes_of(self._read(_SELECT + " WHERE finding_id = ? ORDER BY seq", (finding_id,)))

    def changes(self) -> list[Change]:
        """Every change in the store, in commit order (the audit trail)."""
        return _changes_of(self._read(_SELECT + " ORDER BY seq", ()))

    def last_change(self) -> int:
        """Number of the newest change; grows whenever any process saves a mark, so a
        console can poll it cheaply to pick up marks made in another session."""
        with self._thread_lock:
            return self._connection().execute(
                "SELECT coalesce(max(seq), 0) FROM changes").fetchone()[0]

    def _read(self, sql: str, params: tuple) -> list[_Row]:
        with self._thread_lock:
            try:
                return [_Row(*r) for r in self._connection().execute(sql, params).fetchall()]
            except sqlite3.Error as exc:
                raise DispositionError(f"could not read dispositions store {self.path}: {exc}") from exc

    def _connection(self) -> sqlite3.Connection:
        if self._con is None:
            raise DispositionError(f"dispositions store {self.path} is closed")
        return self._con

    # -- closing ------------------------------------------------------------------------
    def _close_connection(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

    def close(self) -> None:
        with self._thread_lock:
            self._close_connection()
            self._lock.release()

    def __enter__(self) -> DispositionStore:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def _mark_of(row: _Row) -> Mark:
    return Mark(row.finding_id, row.rule_id, row.disposition, row.note, row.analyst,
                _parse_time(row.marked_at))


def _changes_of(rows: Sequence[_Row]) -> list[Change]:
    previous: dict[str, str] = {}
    changes = []
    for row in rows:
        before = previous.get(row.finding_id, UNREVIEWED)
        previous[row.finding_id] = row.disposition
        changes.append(Change(row.seq, row.finding_id, row.rule_id, before, row.disposition,
                              row.note, row.analyst, _parse_time(row.marked_at)))
    return changes


def _latest_time(rows: Sequence[_Row]) -> str:
    """The newest timestamp among recovered rows, for the repair message."""
    return max(r.marked_at for r in rows)


def _init_schema(con: sqlite3.Connection) -> None:
    for statement in _SCHEMA:  # not executescript(): it would commit the open transaction
        con.execute(statement)
    con.execute("PRAGMA user_version = 1")  # SCHEMA_VERSION


def _create_store(path: Path, rows: Sequence[_Row], *, replace: bool = False) -> None:
    """Build a complete store in a temporary file and move it into place, so a store file
    is never seen half-made (and an empty file always means damage). Without ``replace``
    it is linked only if no store exists yet: a racing creator's store wins."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{random.getrandbits(32):08x}.new")
    try:
        con = sqlite3.connect(tmp, isolation_level=None)
        try:
            con.execute("PRAGMA page_size = 4096")  # PAGE_SIZE; recovery assumes it when the header is lost
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=FULL")
            con.execute("BEGIN")
            _init_schema(con)
            con.executemany("INSERT INTO changes VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                            [r.as_tuple() for r in rows])
            con.execute("COMMIT")
        finally:
            con.close()  # checkpoints the WAL into the file and removes it
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        if replace:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass
        fsync_dir(path.parent)
    finally:
        for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm"), Path(f"{tmp}-journal")):
            try:
                leftover.unlink()
            except FileNotFoundError:
                pass


def _remove_stale_temporaries(path: Path, older_than_s: float = 600.0) -> None:
    """Temporary stores left by a process killed while creating one (that takes
    milliseconds, so anything older is abandoned)."""
    cutoff = time.time() - older_than_s
    for leftover in path.parent.glob(f".{path.name}.*.new*"):
        try:
            if leftover.stat().st_mtime < cutoff:
                leftover.unlink()
        except OSError:
            pass


def _memory_store(rows: Sequence[_Row]) -> sqlite3.Connection:
    con = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
    _init_schema(con)
    con.executemany("INSERT INTO changes VALUES (?, ?, ?, ?, ?, ?, ?, ?)", [r.as_tuple() for r in rows])
    return con


# -- recovery: reading rows straight from SQLite's file format ------------------------------
# https://www.sqlite.org/fileformat2.html. Only what this store writes is needed: table
# b-tree leaf pages (type 0x0D), overflow chains, and WAL frames.

_WAL_MAGIC = (0x377F0682, 0x377F0683)  # little-endian / big-endian checksums


def recover_rows(db_path: Path) -> tuple[list[_Row], int]:
    """Every intact change found in a (possibly damaged) store file and its WAL, by seq,
    and the number of damaged records skipped. Never raises on bad bytes."""
    try:
        data = db_path.read_bytes()
    except OSError:
        data = b""
    page_size = PAGE_SIZE
    reserved = 0
    if data[:16] == b"SQLite format 3\x00" and len(data) >= 100:
        raw = struct.unpack(">H", data[16:18])[0]
        size = 65536 if raw == 1 else raw
        if size >= 512 and size & (size - 1) == 0:
            page_size, reserved = size, data[20]
    main: dict[int, bytes] = {}
    for index in range(0, len(data), page_size):
        page = data[index:index + page_size]
        main[index // page_size + 1] = page.ljust(page_size, b"\x00")
    wal_frames = _committed_wal_frames(Path(f"{db_path}-wal"))
    latest = dict(main)
    for number, page in wal_frames:
        latest[number] = page
    usable = page_size - reserved

    found: dict[int, _Row] = {}
    skipped = 0
    # Main-file pages first, then WAL frames oldest to newest: later copies win (they are
    # identical for an append-only table; the order only matters for damaged copies).
    for number, page in list(main.items()) + wal_frames:
        rows, bad = _leaf_rows(number, page, usable, latest)
        skipped += bad
        for row in rows:
            found[row.seq] = row
    return [found[seq] for seq in sorted(found)], skipped


def _committed_wal_frames(wal_path: Path) -> list[tuple[int, bytes]]:
    """(page number, page) of every WAL frame up to the last valid commit, as SQLite's own
    recovery would accept them: matching salts and an unbroken running checksum."""
    try:
        wal = wal_path.read_bytes()
    except OSError:
        return []
    if len(wal) < 32:
        return []
    magic, _version, page_size = struct.unpack(">III", wal[:12])
    if magic not in _WAL_MAGIC or page_size < 512 or page_size & (page_size - 1):
        return []
    big_endian = magic & 1
    salts = wal[16:24]
    check = _wal_checksum(wal[:24], (0, 0), big_endian)
    if check != struct.unpack(">II", wal[24:32]):
        return []
    committed: list[tuple[int, bytes]] = []
    pending: list[tuple[int, bytes]] = []
    offset = 32
    while offset + 24 + page_size <= len(wal):
        header = wal[offset:offset + 24]
        page = wal[offset + 24:offset + 24 + page_size]
        if header[8:16] != salts:
            break
        check = _wal_checksum(page, _wal_checksum(header[:8], check, big_endian), big_endian)
        if check != struct.unpack(">II", header[16:24]):
            break
        number, commit_size = struct.unpack(">II", header[:8])
        pending.append((number, page))
        if commit_size:
            committed += pending
            pending = []
        offset += 24 + page_size
    return committed


def _wal_checksum(data: bytes, start: tuple[int, int], big_endian: int) -> tuple[int, int]:
    words = struct.unpack((">" if big_endian else "<") + f"{len(data) // 4}I", data)
    s0, s1 = start
    for i in range(0, len(words), 2):
        s0 = (s0 + words[i] + s1) & 0xFFFFFFFF
        s1 = (s1 + words[i + 1] + s0) & 0xFFFFFFFF
    return s0, s1


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    value = 0
    for i in range(8):
        byte = buf[pos + i]
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value, pos + i + 1
    return (value << 8) | buf[pos + 8], pos + 9


def _leaf_rows(number: int, page: bytes, usable: int,
               pages: Mapping[int, bytes]) -> tuple[list[_Row], int]:
    header = 100 if number == 1 else 0
    if len(page) < header + 8 or page[header] != 0x0D:
        return [], 0
    count = struct.unpack(">H", page[header + 3:header + 5])[0]
    rows: list[_Row] = []
    bad = 0
    for i in range(count):
        pointer_at = header + 8 + 2 * i
        if pointer_at + 2 > usable:
            bad += count - i
            break
        try:
            pointer = struct.unpack(">H", page[pointer_at:pointer_at + 2])[0]
            row = _cell_row(page, pointer, usable, pages)
        except (IndexError, struct.error, ValueError):
            row = None
        if row is not None:
            rows.append(row)
        elif number != 1:  # page 1 holds the schema's own rows, which are not changes
            bad += 1
    return rows, bad


def _cell_row(page: bytes, pointer: int, usable: int, pages: Mapping[int, bytes]) -> _Row | None:
    if pointer < 8 or pointer >= usable:
        return None
    size, pos = _varint(page, pointer)
    rowid, pos = _varint(page, pos)
    max_local = usable - 35
    if size <= max_local:
        local = size
    else:
        min_local = ((usable - 12) * 32 // 255) - 23
        local = min_local + (size - min_local) % (usable - 4)
        if local > max_local:
            local = min_local
    payload = bytearray(page[pos:pos + local])
    if len(payload) < local or pos + local > usable:
        return None
    if local < size:
        next_page = struct.unpack(">I", page[pos + local:pos + local + 4])[0]
        seen = set()
        while len(payload) < size:
            overflow = pages.get(next_page)
            if overflow is None or next_page in seen:
                return None
            seen.add(next_page)
            payload += overflow[4:usable][:size - len(payload)]
            next_page = struct.unpack(">I", overflow[:4])[0]
    return _decode_change(rowid, bytes(payload))


def _decode_change(rowid: int, payload: bytes) -> _Row | None:
    header_size, pos = _varint(payload, 0)
    types = []
    while pos < header_size:
        serial, pos = _varint(payload, pos)
        types.append(serial)
    if len(types) != len(_COLUMNS):
        return None
    values = []
    body = header_size
    for serial in types:
        if serial == 0:
            values.append(None)
        elif 1 <= serial <= 6:
            width = (1, 2, 3, 4, 6, 8)[serial - 1]
            values.append(int.from_bytes(payload[body:body + width], "big", signed=True))
            body += width
        elif serial in (8, 9):
            values.append(serial - 8)
        elif serial >= 13 and serial % 2:
            length = (serial - 13) // 2
            chunk = payload[body:body + length]
            if len(chunk) < length:
                return None
            values.append(chunk.decode("utf-8"))  # ValueError on damage: caller skips
            body += length
        else:
            return None  # floats and blobs are never written by this store
    seq, fid, rule, disposition, note, analyst, stamp, checksum = values
    if seq is not None or not all(isinstance(v, str) for v in values[1:7]) \
            or not isinstance(checksum, int):
        return None
    if checksum != _row_checksum(rowid, fid, rule, disposition, note, analyst, stamp):
        return None
    return _Row(rowid, fid, rule, disposition, note, analyst, stamp, checksum)
