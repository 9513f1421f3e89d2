"""A case: the loaded tables of one evidence set, kept on disk so a re-run is cheap.

Layout of a case folder (everything exhunt writes lives here, never beside the evidence)::

    manifest.json        evidence paths, options, one entry per evidence file (size, mtime,
                         kind, counts, its data folder); replaced atomically = the commit
    data/f<id>-<token>/  one folder per evidence file and read:
        W3CIISLog/kind=rows/host=<computer>/day=<YYYY-MM-DD>/*.parquet   (hive layout)
        SecurityAlert/data_0.parquet
        bad_lines.parquet
    dispositions.sqlite  analyst marks (owned by engine/dispositions.py)
    tmp/                 DuckDB spill files and cleaned copies during an ingest
    spill/               a folder per query connection that spills (hunts at 10 GB)
    .lock                held (flock) by the one process ingesting

Why Parquet files and a JSON manifest rather than one .duckdb file: DuckDB locks a database
file per process, while the console, ``exhunt hunt`` and an ingest may run at once. Each
reader opens its own in-memory DuckDB over the Parquet files the manifest names; an ingest
writes new folders first and swaps the manifest last, so a killed ingest leaves the previous
state intact (its half-written folder is removed by the next ingest).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import duckdb

from engine import kql_functions
from engine.evidence.exports import DEFAULT_MAX_RECORD_BYTES
from engine.evidence.w3c_layout import DEFAULT_MAX_LINE_BYTES
from engine.tables import TABLES, create_tables

# DuckDB's share of memory for ingest and hunts alike: leaves room under 1 GiB RSS for Python
# (the directive pass, findings) on a shared jump box. Past it DuckDB spills to disk.
MEMORY_LIMIT = "768MB"

MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1


@dataclass
class IngestOptions:
    host_map: Path | None = None  # file: "name-or-folder FQDN" lines, CSV or JSON (hosts.py)
    default_domain: str | None = None  # turns short Computer names into FQDNs
    tenant_id: str = ""  # TenantId for raw W3C files
    keep_dash: bool = False  # keep W3C "-" literally instead of "" (raw files)
    strip_export_dash: bool = False  # exports are taken as exported unless this is set
    # A raw W3C line longer than this (bytes, after decompression) is not held in memory nor
    # parsed: it becomes one bad line saying where it was. Bounds memory on planted files.
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
    # The same for one record of an export (CSV line, JSON record, Parquet cell); default
    # from the environment (EXHUNT_MAX_RECORD_BYTES), --max-record-bytes on the command line.
    max_record_bytes: int = field(default_factory=lambda: _env_bytes(
        "EXHUNT_MAX_RECORD_BYTES", DEFAULT_MAX_RECORD_BYTES))

    def fingerprint(self) -> dict[str, Any]:
        """What a cached read depends on: a change re-reads every file."""
        host_map_digest = None
        if self.host_map is not None:
            try:
                host_map_digest = hashlib.sha256(Path(self.host_map).read_bytes()).hexdigest()
            except OSError:
                host_map_digest = "unreadable"
        return {
            "host_map": host_map_digest,
            "default_domain": self.default_domain or None,
            "tenant_id": self.tenant_id or "",
            "keep_dash": bool(self.keep_dash),
            "strip_export_dash": bool(self.strip_export_dash),
        } | ({} if self.max_line_bytes == DEFAULT_MAX_LINE_BYTES else {
            # Only when changed: cases read before the option existed stay cached.
            "max_line_bytes": int(self.max_line_bytes)}) | (
            {} if self.max_record_bytes == DEFAULT_MAX_RECORD_BYTES else {
                "max_record_bytes": int(self.max_record_bytes)})


def _env_bytes(name: str, default: int) -> int:
    """A byte limit from the environment; the default when unset or not a number >= 1024."""
    try:
        value = int(os.environ.get(name, ""))
    except ValueError:
        return default
    return value if value >= 1024 else default


@dataclass
class IngestProgress:
    files_done: int
    files_total: int
    bytes_done: int
    bytes_total: int
    elapsed_s: float
    current: str | None = None
    # While a file is being read (current is that file): decompressed bytes read from it
    # so far and for how long. 0 in the report sent when a file is finished.
    reading_bytes: int = 0
    reading_s: float = 0.0

    @property
    def rate_mb_s(self) -> float:
        return self.bytes_done / 1e6 / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def reading_mb_s(self) -> float:
        """Rate of the file being read (decompressed MB/s); 0.0 between files."""
        return self.reading_bytes / 1e6 / self.reading_s if self.reading_s > 0 else 0.0

    @property
    def eta_s(self) -> float | None:
        """Seconds left at the rate so far; None until a byte has been read."""
        if self.bytes_done <= 0 or self.elapsed_s <= 0:
            return None
        return max(self.bytes_total - self.bytes_done, 0) * self.elapsed_s / self.bytes_done


@dataclass
class FileReport:
    path: str
    kind: str  # iis-w3c | w3ciislog-export | securityalert-export | skipped
    computer: str | None
    rows: int
    bad_lines: int
    reason: str | None
    cached: bool = False
    notes: list[str] = field(default_factory=list)
    format: str | None = None
    dash_queries: int = 0
    size: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class BadLine:
    path: str
    line: int
    text: str


@dataclass
class IngestReport:
    files: list[FileReport]
    tables: dict[str, int]
    case: str = ""
    elapsed_s: float = 0.0
    files_read: int = 0
    files_cached: int = 0
    bytes_read: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "files": [f.to_json() for f in self.files],
            "tables": dict(self.tables),
            "case": self.case,
            "elapsed_s": round(self.elapsed_s, 3),
            "files_read": self.files_read,
            "files_cached": self.files_cached,
            "bytes_read": self.bytes_read,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "IngestReport":
        files = [FileReport(**f) for f in data.get("files", [])]
        return cls(files, dict(data.get("tables", {})), data.get("case", ""),
                   data.get("elapsed_s", 0.0), data.get("files_read", 0),
                   data.get("files_cached", 0), data.get("bytes_read", 0))


class Case:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    # -- manifest ---------------------------------------------------------------------
    def read_manifest(self) -> dict[str, Any]:
        try:
            with open(self.path / MANIFEST, encoding="utf-8") as handle:
                data = json.load(handle)
        except (OSError, ValueError):
            return {}
        return data if data.get("format") == MANIFEST_FORMAT else {}

    def write_manifest(self, data: dict[str, Any]) -> None:
        """Temp file + fsync + rename: readers see the old or the new manifest, never half."""
        data = dict(data, format=MANIFEST_FORMAT)
        tmp = self.path / f".{MANIFEST}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=1)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path / MANIFEST)

    @property
    def evidence_paths(self) -> list[Path]:
        return [Path(p) for p in self.read_manifest().get("evidence", [])]

    @property
    def dispositions_path(self) -> Path:
        return self.path / "dispositions.sqlite"

    def last_report(self) -> IngestReport | None:
        report = self.read_manifest().get("report")
        return IngestReport.from_json(report) if report else None

    # -- ingest -----------------------------------------------------------------------
    def ingest(self, evidence: list[Path], options: IngestOptions | None = None,
               progress: Callable[[IngestProgress], None] | None = None) -> IngestReport:
        from engine.ingest import run_ingest  # ingest imports this module

        return run_ingest(self, [Path(p) for p in evidence], options or IngestOptions(),
                          progress)

    # -- reading ----------------------------------------------------------------------
    def data_files(self, table: str) -> list[Path]:
        """Parquet files of ``table`` named by the current manifest."""
        files: list[Path] = []
        for entry in self.read_manifest().get("files", {}).values():
            data = entry.get("data")
            if not data or entry.get("table") != table:
                continue
            folder = self.path / data / table
            if table == "W3CIISLog":
                files.extend(sorted((folder / "kind=rows").glob("host=*/day=*/*.parquet")))
            else:
                files.extend(sorted(folder.glob("*.parquet")))
        return files

    def connect(self) -> duckdb.DuckDBPyConnection:
        """A new in-memory DuckDB with ``W3CIISLog`` and ``SecurityAlert`` relations having
        exactly engine/tables.py's columns, and the KQL macros installed."""
        con = duckdb.connect(":memory:", config={
            # Hunts at 10 GB held 1.6 GiB unbounded; with this, 0.8 GiB and 1.3x the time.
            "memory_limit": MEMORY_LIMIT, "temp_directory": str(self._spill_dir())})
        con.execute("SET TimeZone = 'UTC'")
        # DuckDB's progress bar writes straight to the terminal: it would tear the console's
        # screen and pollute headless output.
        con.execute("SET enable_progress_bar = false")
        kql_functions.install(con)
        empty = []
        for name, table in TABLES.items():
            files = self.data_files(name)
            if not files:
                empty.append(name)
                continue
            cols = ", ".join(f'CAST("{c.name}" AS {c.sql_type}) AS "{c.name}"'
                             for c in table.columns)
            # Paths are the case's own files; views cannot take bound parameters.
            listing = ", ".join("'" + str(f).replace("'", "''") + "'" for f in files)
            con.execute(
                f'CREATE VIEW "{name}" AS SELECT {cols} FROM '
                f"read_parquet([{listing}], hive_partitioning=false)"
            )
        if empty:
            create_tables(con)
        return con

    def _spill_dir(self) -> Path:
        """Where one query connection over this case spills past MEMORY_LIMIT: a folder of
        its own under the case's ``spill/`` (not ``tmp/``, which an ingest in another
        process clears), or under the system's temporary folder when the case cannot be
        written (a read-only copy). DuckDB creates it only when it spills and removes it
        when the connection closes."""
        own = self.path / "spill"
        try:
            own.mkdir(exist_ok=True)
            usable = os.access(own, os.W_OK)
        except OSError:
            usable = False
        if not usable:
            import tempfile
            own = Path(tempfile.gettempdir())
        return own / f"exhunt-{os.getpid()}-{os.urandom(4).hex()}"

    def bad_lines(self, limit: int | None = None) -> list[BadLine]:
        """Every line that did not fit its #Fields line, with file, line number and text."""
        manifest = self.read_manifest()
        out: list[BadLine] = []
        con = duckdb.connect(":memory:")
        try:
            for path, entry in sorted(manifest.get("files", {}).items()):
                data = entry.get("data")
                if not data or not entry.get("bad_lines"):
                    continue
                bad = self.path / data / "bad_lines.parquet"
                if not bad.exists():
                    continue
                rows = con.execute(
                    "SELECT line, text FROM read_parquet($p) ORDER BY line", {"p": str(bad)}
                ).fetchall()
                out.extend(BadLine(path, int(line), text) for line, text in rows)
                if limit is not None and len(out) >= limit:
                    return out[:limit]
        finally:
            con.close()
        return out


def default_case_dir(evidence: list[Path]) -> Path:
    """A per-evidence folder under the user's data directory (stable for the same paths)."""
    from platformdirs import user_data_dir

    resolved = sorted(os.path.abspath(p) for p in evidence)
    digest = hashlib.sha256("\0".join(resolved).encode("utf-8", "surrogateescape")).hexdigest()
    name = Path(resolved[0]).name if resolved else "empty"
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:40] or "evidence"
    return Path(user_data_dir("exhunt")) / "cases" / f"{slug}-{digest[:12]}"


def open_case(case_dir: Path | None, evidence: list[Path]) -> Case:
    """The case in ``case_dir`` (created if missing) or the default one for ``evidence``."""
    path = Path(case_dir) if case_dir is not None else default_case_dir(evidence)
    path.mkdir(parents=True, exist_ok=True)
    return Case(path)
