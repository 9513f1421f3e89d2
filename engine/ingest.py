"""Bring a case up to date with its evidence: read new/changed files, reuse unchanged ones.

A file is unchanged when its path, size and modification time (nanoseconds) match the
manifest and the ingest options are the same; hashing every file would cost a full read,
which is what caching avoids. One process at a time ingests a case (``flock`` on
``<case>/.lock``); readers never lock (see case.py).
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import duckdb

from engine.case import (MEMORY_LIMIT, Case, FileReport, IngestOptions, IngestProgress,
                         IngestReport)
from engine.evidence import discover, meter
from engine.evidence.exports import ExportOptions, read_export
from engine.evidence.hosts import HostMap, host_for_file
from engine.evidence.read_errors import describe_read_error
from engine.evidence.w3c import W3CReadOptions, read_w3c



class CaseWriteError(OSError):
    """The case folder cannot be written (disk full, read-only, size limit). The ingest
    stops and records nothing, so the next run reads the same evidence again."""


_NO_ROOM = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EROFS)


def _case_write_failed(exc: BaseException, case: Case) -> bool:
    """Whether ``exc`` is the case failing to be written, not the evidence failing to be
    read: DuckDB reports write errors as text naming the file it was writing."""
    if isinstance(exc, OSError) and exc.errno in _NO_ROOM:
        return True
    text = str(exc)
    lowered = text.lower()
    return str(case.path) in text and any(
        word in lowered for word in ("could not write", "no space left", "file too large",
                                     "read-only file system", "disk quota"))


# What a failed write of the case means, from the errno or DuckDB's words for it, and what
# the analyst can do about it.
_WRITE_FAULTS = (
    (errno.ENOSPC, "no space left", "its disk is full", "free space or choose another --case"),
    (errno.EDQUOT, "disk quota", "the disk quota is used up",
     "free space or choose another --case"),
    (errno.EFBIG, "file too large", "a file would pass the file-size limit",
     "raise the limit (ulimit -f) or choose another --case"),
    (errno.EROFS, "read-only file system", "it is on a read-only file system",
     "choose another --case"),
)


def case_write_message(exc: BaseException, case: Case, evidence: Path) -> str:
    """The analyst's message for a case that cannot be written while ``evidence`` is read:
    what happened, to which case, that the file is not the cause and is read again next
    time, what to do. DuckDB's own text stays in the exception chain, not the message."""
    code, lowered = getattr(exc, "errno", None), str(exc).lower()
    what, advice = next(((meaning, advice) for number, words, meaning, advice in _WRITE_FAULTS
                         if code == number or words in lowered),
                        ("writing to it failed", "check the case folder or choose another --case"))
    return (f"cannot write the case {case.path}: {what}. Nothing was recorded for "
            f"{evidence}, which is read again on the next run; {advice}")


def _workers() -> int:
    return max(1, min(int(os.environ.get("EXHUNT_INGEST_WORKERS", 0)) or os.cpu_count() or 1, 4))


@contextmanager
def case_lock(case: Case) -> Iterator[None]:
    case.path.mkdir(parents=True, exist_ok=True)
    with open(case.path / ".lock", "a+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _connection(case: Case) -> duckdb.DuckDBPyConnection:
    tmp = case.path / "tmp"
    tmp.mkdir(exist_ok=True)
    con = duckdb.connect(":memory:", config={
        "memory_limit": MEMORY_LIMIT,
        "temp_directory": str(tmp),
        # Line numbers come from row_number() OVER () right above the CSV scan: DuckDB runs
        # that streaming window single-threaded, in file order, whatever this setting
        # (tests/evidence/test_line_numbers.py checks it past DuckDB's parallel chunk).
        # Keeping the order of rows *written* is what this setting costs: 15% of a raw
        # file's COPY (bench, 0.55 -> 0.47 CPU-s per 50 MB). Every reader orders by
        # _line or time, never by position in a file.
        "preserve_insertion_order": False,
    })
    con.execute("SET TimeZone = 'UTC'")
    return con


def run_ingest(case: Case, evidence: list[Path], options: IngestOptions,
               progress: Callable[[IngestProgress], None] | None = None) -> IngestReport:
    started = time.monotonic()
    with case_lock(case):
        old = case.read_manifest()
        fingerprint = options.fingerprint()
        same_options = old.get("options") == fingerprint
        old_files: dict[str, dict] = old.get("files", {}) if same_options else {}
        ids: dict[str, int] = dict(old.get("ids", {}))
        next_id = int(old.get("next_id", 1))
        # Files an interrupted ingest finished: their data folders are complete, so they
        # count as read (if unchanged since) and the ingest resumes where it stopped.
        resumed = _read_journal(case, fingerprint)
        for key, entry in resumed.items():
            old_files[key] = entry
            ids[key] = int(entry["id"])
        next_id = max([next_id, *(i + 1 for i in ids.values())])
        _remove_orphans(case, old, keep={e["data"] for e in resumed.values() if e.get("data")})

        host_map = HostMap.load(options.host_map) if options.host_map else None
        # A case kept inside the evidence folder must not read its own tables back.
        found = [f for f in discover.walk(evidence) if not _inside(f.path, case.path)]
        sizes = {}
        for item in found:
            try:
                sizes[str(item.path)] = item.path.stat().st_size if not item.skip_reason else 0
            except OSError:
                sizes[str(item.path)] = 0
        total_bytes = sum(sizes.values())

        for item in found:
            if str(item.path) not in ids:
                ids[str(item.path)] = next_id
                next_id += 1
        con = _connection(case)
        results: dict[str, tuple[dict, bool]] = {}
        reporter = _Reporter(progress, len(found), total_bytes, started)

        def one(item: discover.Found) -> tuple[str, dict, bool]:
            # One DuckDB connection (cursor) per thread, as DuckDB requires.
            cursor = con.cursor()
            reporter.cursors[threading.get_ident()] = cursor
            try:
                cursor.execute("SET TimeZone = 'UTC'")
                key = str(item.path)
                with meter.reading(key, reporter.advanced if progress is not None else None):
                    entry, cached = _ingest_one(case, cursor, item, ids[key],
                                                old_files.get(key), options, host_map)
                if reporter.failed is not None:
                    # The read may have been interrupted: not a verdict on the file.
                    raise _Interrupted() from reporter.failed
                return key, entry, cached
            finally:
                reporter.cursors.pop(threading.get_ident(), None)
                cursor.close()

        try:
            # A file's read is close to single-threaded in DuckDB (the line-number window
            # keeps order), so files are read side by side: one worker per core.
            with reporter.heartbeat(), _reraise_interrupted(), \
                    ThreadPoolExecutor(max_workers=_workers()) as pool:
                for key, entry, cached in pool.map(one, found):
                    results[key] = (entry, cached)
                    if not cached:
                        _journal(case, fingerprint, key, entry)
                    reporter.finished(key, sizes.get(key, 0))
        finally:
            con.close()
        done_bytes = reporter.bytes_done

        files: dict[str, dict] = {}
        reports: list[FileReport] = []
        read_count = cached_count = 0
        for item in found:
            key = str(item.path)
            entry, was_cached = results[key]
            files[key] = entry
            report = _report(key, entry, was_cached)
            reports.append(report)
            if was_cached:
                cached_count += 1
            elif entry.get("size"):
                read_count += 1

        _keep_unreachable(found, old_files, files, reports)

        tables = {"W3CIISLog": 0, "SecurityAlert": 0}
        for entry in files.values():
            if entry.get("table") in tables:
                tables[entry["table"]] += int(entry.get("rows", 0))
        report = IngestReport(reports, tables, str(case.path), time.monotonic() - started,
                              read_count, cached_count,
                              sum(f.size for f in reports if not f.cached))
        referenced = {e["data"] for e in files.values() if e.get("data")}
        superseded = [e["data"] for e in old.get("files", {}).values()
                      if e.get("data") and e["data"] not in referenced]
        new_manifest = {
            "evidence": [os.path.abspath(p) for p in evidence],
            "options": fingerprint,
            "ids": ids,
            "next_id": next_id,
            "files": files,
            "report": report.to_json(),
            # Folders the previous manifest named: a reader that opened it a moment ago may
            # still scan them, so they are deleted by the next ingest, not this one.
            "garbage": superseded,
        }
        case.write_manifest(new_manifest)
        _journal_path(case).unlink(missing_ok=True)  # the manifest now holds all of it
        for data in old.get("garbage", []):
            if data not in referenced:
                shutil.rmtree(case.path / data, ignore_errors=True)
        if progress is not None:
            progress(IngestProgress(len(found), len(found), done_bytes, total_bytes,
                                    time.monotonic() - started, None))
        return report


class _Reporter:
    """Progress reports for one ingest: when a file is finished, and while files are being
    read (their name, bytes read and time so far: from the readers themselves during their
    Python passes, from a heartbeat thread every meter.PROGRESS_EVERY_S otherwise, e.g.
    while DuckDB reads). Reports go out one at a time.

    When the receiver raises (the console has quit: 'App is not running'), every read in
    progress is interrupted (DuckDB's own included) and the ingest stops with that
    exception, recording nothing for the files it was reading: so 'q' in the console does
    not wait for a slow file, and the next run reads those files again."""

    def __init__(self, progress: Callable[[IngestProgress], None] | None, files_total: int,
                 bytes_total: int, started: float) -> None:
        self.progress = progress
        self.files_total, self.bytes_total, self.started = files_total, bytes_total, started
        self.files_done = self.bytes_done = 0
        self.failed: BaseException | None = None
        self.cursors: dict[int, duckdb.DuckDBPyConnection] = {}  # reading thread -> cursor
        self._lock = threading.Lock()

    def _send(self, current: str | None, reading_bytes: int = 0, reading_s: float = 0.0) -> None:
        if self.progress is None:
            return
        with self._lock:
            if self.failed is not None:
                raise self.failed
            try:
                self.progress(IngestProgress(self.files_done, self.files_total,
                                             self.bytes_done, self.bytes_total,
                                             time.monotonic() - self.started, current,
                                             reading_bytes, reading_s))
            except Exception as exc:
                self.failed = exc
                for cursor in list(self.cursors.values()):
                    cursor.interrupt()
                raise

    def finished(self, key: str, size: int) -> None:
        self.files_done += 1
        self.bytes_done += size
        self._send(key)

    def advanced(self, m: meter.FileMeter) -> None:
        """From a reading thread. A failure must not pass for the file failing (it would
        be journaled as skipped and never read again): see _Interrupted."""
        try:
            self._send(m.path, m.bytes_read, m.elapsed_s)
        except Exception as exc:
            raise _Interrupted() from exc

    @contextmanager
    def heartbeat(self) -> Iterator[None]:
        stop = threading.Event()

        def beat() -> None:
            # Never a busy loop, even when tests ask the readers to report every block.
            while not stop.wait(max(meter.PROGRESS_EVERY_S, 0.05)):
                for thread, m in meter.active():
                    if thread not in self.cursors:
                        continue  # another ingest's file
                    try:
                        self._send(m.path, m.bytes_read, m.elapsed_s)
                    except Exception:  # noqa: BLE001 - recorded in self.failed
                        return

        thread = threading.Thread(target=beat, name="ingest-progress", daemon=True)
        if self.progress is not None:
            thread.start()
        try:
            yield
        finally:
            stop.set()
            if thread.is_alive():
                thread.join()


class _Interrupted(BaseException):
    """The progress callback raised while a file was being read (e.g. the console has quit
    and cannot take reports). A BaseException, so the per-file ``except Exception`` does
    not record the file as skipped: the ingest stops, the file is not journaled, and the
    next run reads it again. run_ingest re-raises the callback's own exception."""


@contextmanager
def _reraise_interrupted() -> Iterator[None]:
    try:
        yield
    except _Interrupted as stop:
        raise stop.__cause__ from None


def _inside(path: Path, folder: Path) -> bool:
    try:
        Path(os.path.abspath(path)).relative_to(os.path.abspath(folder))
    except ValueError:
        return False
    return True


def _journal_path(case: Case) -> Path:
    return case.path / "ingest-journal.jsonl"


def _journal(case: Case, fingerprint: object, key: str, entry: dict) -> None:
    """Record one finished file (fsynced) so an interrupted ingest can resume after it."""
    line = json.dumps({"options": fingerprint, "path": key, "entry": entry}) + "\n"
    with open(_journal_path(case), "a", encoding="utf-8") as fh:
        fh.write(line)
        fh.flush()
        os.fsync(fh.fileno())


def _read_journal(case: Case, fingerprint: object) -> dict[str, dict]:
    """Files finished by an ingest that did not complete, with the same options. A line cut
    by the interruption (or otherwise unreadable) ends the journal."""
    try:
        lines = _journal_path(case).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return {}
    finished: dict[str, dict] = {}
    for line in lines:
        try:
            record = json.loads(line)
            entry = record["entry"]
            int(entry["id"])
        except (ValueError, KeyError, TypeError):
            break
        if record.get("options") != fingerprint:
            continue
        data = entry.get("data")
        if data and not (case.path / data).is_dir():
            continue
        finished[record["path"]] = entry
    return finished


def _remove_orphans(case: Case, manifest: dict, keep: set[str] = frozenset()) -> None:
    """Data folders no manifest names: left by an ingest that was killed (except those its
    journal says are complete, in ``keep``)."""
    data_dir = case.path / "data"
    if not data_dir.exists():
        return
    known = {e.get("data") for e in manifest.get("files", {}).values()}
    known.update(manifest.get("garbage", []))
    known.update(keep)
    for folder in data_dir.iterdir():
        if f"data/{folder.name}" not in known:
            shutil.rmtree(folder, ignore_errors=True)
    shutil.rmtree(case.path / "tmp", ignore_errors=True)


def _keep_unreachable(found: list[discover.Found], old_files: dict[str, dict],
                      files: dict[str, dict], reports: list[FileReport]) -> None:
    """An evidence folder (or file) given to the ingest that no longer exists (a share not
    mounted, a drive not plugged in, a folder moved) keeps what the case last read from it:
    the case may be all that is left of that evidence, and a re-run must not empty it. Its
    files stay in the case, reported as not reachable; a folder's entry says how many."""
    for item in found:
        if item.skip_reason != "not found" or item.path != item.root:
            continue
        root = item.path
        note = f"not reachable now ({root} not found): kept as last read"
        previous = old_files.get(str(root))
        if previous is not None and previous.get("kind") != discover.SKIPPED:
            # A file given by name: its last reading takes the place of "not found".
            files[str(root)] = previous
            reports[:] = [r for r in reports if r.path != str(root)]
            reports.append(_report(str(root), previous, cached=True))
            reports[-1].notes.append(note)
            continue
        kept = [key for key in old_files
                if key not in files and Path(key).is_relative_to(root)]
        for key in kept:
            files[key] = old_files[key]
            reports.append(_report(key, old_files[key], cached=True))
            reports[-1].notes.append(note)
        if kept:
            reason = f"not found: the case keeps the {len(kept):,} file(s) last read from it"
            files[str(root)] = {**files[str(root)], "reason": reason}
            for report in reports:
                if report.path == str(root):
                    report.reason = reason


def _report(key: str, entry: dict, cached: bool) -> FileReport:
    return FileReport(
        path=key, kind=entry["kind"], computer=entry.get("computer"),
        rows=int(entry.get("rows", 0)), bad_lines=int(entry.get("bad_lines", 0)),
        reason=entry.get("reason"), cached=cached, notes=list(entry.get("notes", [])),
        format=entry.get("format"), dash_queries=int(entry.get("dash_queries", 0)),
        size=int(entry.get("size", 0)),
    )


def _ingest_one(case: Case, con: duckdb.DuckDBPyConnection, item: discover.Found, file_id: int,
                previous: dict | None, options: IngestOptions,
                host_map: HostMap | None) -> tuple[dict, bool]:
    if item.skip_reason:
        return {"id": file_id, "kind": discover.SKIPPED, "reason": item.skip_reason,
                "rows": 0, "bad_lines": 0, "size": 0}, False
    try:
        stat = item.path.stat()
    except OSError as exc:
        return {"id": file_id, "kind": discover.SKIPPED, "reason": f"cannot stat: {exc}",
                "rows": 0, "bad_lines": 0, "size": 0}, False
    if (previous is not None and previous.get("size") == stat.st_size
            and previous.get("mtime_ns") == stat.st_mtime_ns
            and previous.get("id") == file_id
            and (not previous.get("data") or (case.path / previous["data"]).is_dir())):
        return previous, True
    entry = {"id": file_id, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
             "rows": 0, "bad_lines": 0, "reason": None, "notes": [], "computer": None,
             "data": None, "table": None}
    sniffed = discover.sniff(item.path)
    entry["kind"] = sniffed.kind
    entry["format"] = sniffed.fmt
    if sniffed.kind == discover.SKIPPED:
        entry["reason"] = sniffed.reason
        return entry, False
    data_rel = f"data/f{file_id}-{uuid.uuid4().hex[:8]}"
    out_dir = case.path / data_rel
    out_dir.mkdir(parents=True)
    try:
        if sniffed.kind == discover.IIS_W3C:
            _read_raw(con, item, sniffed, out_dir, case.path / "tmp", file_id, entry, options,
                      host_map)
        else:
            _read_export(con, item, sniffed, out_dir, file_id, entry, options)
    except Exception as exc:  # noqa: BLE001 - one bad file must not stop the ingest
        shutil.rmtree(out_dir, ignore_errors=True)
        if _case_write_failed(exc, case):
            # Not the evidence's fault: recording it as skipped would cache the skip.
            raise CaseWriteError(getattr(exc, "errno", None) or errno.EIO,
                                 case_write_message(exc, case, item.path)) from exc
        # The reason says what was wrong with the file; DuckDB's own words go to a note.
        reason, detail = describe_read_error(exc)
        entry.update(kind=discover.SKIPPED, rows=0, bad_lines=0, data=None, table=None,
                     reason=reason, notes=[*entry.get("notes", []), f"reader detail: {detail}"])
        return entry, False
    if entry["kind"] == discover.SKIPPED:
        shutil.rmtree(out_dir, ignore_errors=True)
    else:
        entry["data"] = data_rel
    return entry, False


def _read_raw(con, item, sniffed, out_dir, tmp_dir, file_id, entry, options, host_map) -> None:
    host = host_for_file(item.path, item.root, host_map, options.default_domain)
    opts = W3CReadOptions(
        # FileUri is text: bytes of a name that are not UTF-8 become U+FFFD.
        file_id=file_id, file_uri=os.fsencode(item.path).decode("utf-8", "replace"), host=host,
        host_map=dict(host_map.entries) if host_map else {},
        default_domain=options.default_domain, tenant_id=options.tenant_id,
        keep_dash=options.keep_dash, max_line_bytes=options.max_line_bytes,
    )
    tmp_dir.mkdir(parents=True, exist_ok=True)
    result = read_w3c(con, item.path, sniffed.gz, out_dir, tmp_dir, opts)
    if result.reason:
        entry.update(kind=discover.SKIPPED, reason=result.reason)
        return
    entry.update(rows=result.rows, bad_lines=result.bad_lines, notes=result.notes,
                 table="W3CIISLog",
                 computer=", ".join(result.computers) if result.computers else
                 (host.computer or None))
    if sniffed.gz:
        entry["notes"].append("gzip-compressed")


def _read_export(con, item, sniffed, out_dir, file_id, entry, options) -> None:
    table = "W3CIISLog" if sniffed.kind == discover.W3C_EXPORT else "SecurityAlert"
    opts = ExportOptions(file_id=file_id, tenant_id=options.tenant_id,
                         strip_dash=options.strip_export_dash,
                         max_record_bytes=options.max_record_bytes)
    result = read_export(con, item.path, sniffed.fmt or "csv", sniffed.gz, table, out_dir, opts)
    notes = list(result.notes)
    if sniffed.aliases:
        notes.insert(0, sniffed.aliases)
    entry.update(rows=result.rows, notes=notes, table=table, bad_lines=result.bad_lines,
                 dash_queries=result.dash_queries,
                 computer=", ".join(result.computers) if result.computers else None)
