"""Evidence arguments shared by every command that reads evidence (scan, hunt, kql, open,
mark, export), and the one way they turn into an up-to-date case."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from engine.case import Case, IngestOptions, IngestProgress, open_case
from engine.evidence.w3c_layout import DEFAULT_MAX_LINE_BYTES


def add_evidence_arguments(parser: argparse.ArgumentParser, *, paths_required: bool = False) -> None:
    parser.add_argument("paths", metavar="PATH", nargs="+" if paths_required else "*",
                        type=Path, help="evidence files or folders (read-only)")
    parser.add_argument("--case", type=Path, default=None, metavar="DIR",
                        help="case folder keeping the loaded tables (default: one per "
                             "evidence set under the user data directory)")
    parser.add_argument("--host-map", type=Path, default=None, metavar="FILE",
                        help="lines 'folder-or-short-name FQDN' (or CSV/JSON) naming servers")
    parser.add_argument("--default-domain", default=None, metavar="DOMAIN",
                        help="DNS domain appended to short Computer names")
    parser.add_argument("--tenant-id", default="", metavar="ID",
                        help="TenantId for rows from raw W3C files (default empty)")
    parser.add_argument("--keep-dash", action="store_true",
                        help="keep W3C '-' values literally in raw files (default: empty)")
    parser.add_argument("--strip-export-dash", action="store_true",
                        help="turn '-' into empty in W3CIISLog exports too (default: as exported)")
    parser.add_argument("--max-line-bytes", type=_line_limit, default=DEFAULT_MAX_LINE_BYTES,
                        metavar="N",
                        help="a raw W3C line longer than N bytes (after decompression) is "
                             "reported as a bad line with its line and byte offset, not read "
                             f"(default {DEFAULT_MAX_LINE_BYTES}; minimum 1024)")
    parser.add_argument("--max-record-bytes", type=_line_limit, default=None, metavar="N",
                        help="an export record (CSV line, JSON record, Parquet cell) longer "
                             "than N bytes is reported as a bad record, not read (default "
                             "$EXHUNT_MAX_RECORD_BYTES or 16 MiB; minimum 1024)")


def _line_limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number of bytes: {text!r}") from None
    if value < 1024:
        raise argparse.ArgumentTypeError("must be at least 1024 bytes")
    return value


def options_from_args(args: argparse.Namespace) -> IngestOptions:
    return IngestOptions(
        host_map=getattr(args, "host_map", None),
        default_domain=getattr(args, "default_domain", None),
        tenant_id=getattr(args, "tenant_id", "") or "",
        keep_dash=bool(getattr(args, "keep_dash", False)),
        strip_export_dash=bool(getattr(args, "strip_export_dash", False)),
        max_line_bytes=int(getattr(args, "max_line_bytes", None) or DEFAULT_MAX_LINE_BYTES),
        # None: IngestOptions' own default (the environment variable, else 16 MiB).
        **({} if getattr(args, "max_record_bytes", None) is None
           else {"max_record_bytes": int(args.max_record_bytes)}),
    )


class _StderrProgress:
    """One self-overwriting status line on stderr (only used when stderr is a terminal)."""

    def __init__(self) -> None:
        self.last = 0.0

    def __call__(self, p: IngestProgress) -> None:
        now = time.monotonic()
        final = p.files_done == p.files_total
        if not final and now - self.last < 0.2:
            return
        self.last = now
        line = (f"\rexhunt: {p.files_done}/{p.files_total} files, "
                f"{p.bytes_done / 1e6:,.1f}/{p.bytes_total / 1e6:,.1f} MB, "
                f"{p.rate_mb_s:,.0f} MB/s")
        if not final and p.eta_s is not None:
            minutes, seconds = divmod(int(p.eta_s), 60)
            line += f", about {minutes}:{seconds:02d} left"
        sys.stderr.write(line[:200] + ("\n" if final else ""))
        sys.stderr.flush()


def case_from_args(args: argparse.Namespace, quiet: bool = False) -> Case:
    """Open the case the arguments name and bring it up to date with its evidence.

    With no PATH, the case's recorded evidence is re-scanned (``--case DIR`` alone)."""
    evidence = list(getattr(args, "paths", []) or [])
    case_dir = getattr(args, "case", None)
    if not evidence and case_dir is None:
        raise SystemExit("exhunt: give evidence paths or --case DIR")
    case = open_case(case_dir, evidence)
    if not evidence:
        evidence = case.evidence_paths
        if not evidence:
            raise SystemExit(f"exhunt: case {case.path} records no evidence; give PATH...")
    progress = None if quiet or not sys.stderr.isatty() else _StderrProgress()
    case.ingest(evidence, options_from_args(args), progress)
    return case
