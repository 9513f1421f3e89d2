"""Marked findings as a CSV file that a spreadsheet opens safely.

Layout: one row per finding, one header row. The first columns are the same for every rule
(``FIXED_COLUMNS``); then come the hunts' own output columns, as the union of every exported
rule's columns in rule order (a column two rules share, such as ``Computer``, is one column,
so a spreadsheet filter on it works across rules). A cell of a column that a row's rule does
not have is empty, as is a KQL null. Lists are joined with ``"; "`` and timestamps are ISO 8601
UTC (``jsonvalues.iso_utc``); bags are JSON.

Log text is attacker-controlled, so every cell, header cells and notes included, goes through
``inert_cell``: a value starting with ``= + - @``, tab or carriage return gets a leading single
quote (OWASP's CSV-injection advice), and so does a value that already starts with a quote, so
that removing one leading quote from any quoted cell gives back the exact original text.

Files are UTF-8 (optionally with a BOM, which Excel needs to detect UTF-8), RFC 4180 quoting
with CRLF row ends, and are written atomically (temporary file in the same folder, fsync,
rename): a reader never sees half a file and a failed export leaves any earlier file intact.
"""
from __future__ import annotations

import csv
import datetime as _dt
import json
import os
import re
import tempfile
from collections.abc import Collection, Iterable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from engine.dispositions import UNREVIEWED, Mark, fsync_dir
from engine.findings import HuntRun
from engine.jsonvalues import iso_utc, to_json_value

FIXED_COLUMNS = ("rule id", "rule name", "finding id", "disposition", "note", "analyst",
                 "marked at", "finding status")
PRESENT = "present"
NO_LONGER_PRESENT = "finding no longer present"
LIST_SEPARATOR = "; "
# OWASP: these make Excel, LibreOffice and Google Sheets start a formula or DDE call.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
ESCAPE = "'"
# Lone surrogates cannot be written as UTF-8 (they come from undecodable bytes).
_SURROGATE = re.compile("[\ud800-\udfff]")


class ExportPathError(ValueError):
    """The export path is unsafe or unusable; the message says why and names the path."""


def inert_cell(text: str) -> str:
    """``text`` as a cell no spreadsheet evaluates: a leading quote before a formula start
    (or before a leading quote, which keeps the escaping reversible)."""
    if text.startswith(FORMULA_STARTS) or text.startswith(ESCAPE):
        return ESCAPE + text
    return text


def cell_text(value: Any) -> str:
    """A KQL value as readable cell text (before ``inert_cell``)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, _dt.datetime):
        return iso_utc(value)
    if isinstance(value, _dt.date):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return LIST_SEPARATOR.join(cell_text(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(to_json_value(value), ensure_ascii=False)
    if isinstance(value, _dt.timedelta):
        return str(value.total_seconds())
    if isinstance(value, Decimal):
        return str(float(value))
    return str(value)


def export_columns(runs: Sequence[HuntRun]) -> list[str]:
    """The header: fixed columns, then each hunt column once, in order of first appearance."""
    hunt_columns = dict.fromkeys(c for run in runs for c in run.columns)
    return [*FIXED_COLUMNS, *hunt_columns]


def export_table(runs: Sequence[HuntRun], marks: Mapping[str, Mark], *,
                 include_unreviewed: bool = False,
                 rule_ids: Collection[str] | None = None) -> tuple[list[str], list[list[str]]]:
    """Header and rows (plain text, not yet made inert) of an export.

    Rows follow rule order, then the hunt's finding order; each rule's marks whose finding
    no longer appears follow its findings, and marks of rules not run come last.
    """
    chosen = [run for run in runs if rule_ids is None or run.rule_id in rule_ids]
    header = export_columns(chosen)
    hunt_columns = header[len(FIXED_COLUMNS):]
    present = {f.finding_id for run in runs for f in run.findings}
    active = {fid: m for fid, m in marks.items() if m.disposition != UNREVIEWED}
    absent_by_rule: dict[str, list[Mark]] = {}
    for mark in sorted((m for fid, m in active.items() if fid not in present),
                       key=lambda m: (m.marked_at, m.finding_id)):
        absent_by_rule.setdefault(mark.rule_id, []).append(mark)

    rows: list[list[str]] = []
    for run in chosen:
        for finding in run.findings:
            if finding.finding_id not in active and not include_unreviewed:
                continue
            # An unreviewed finding may still carry a note, or show who cleared its mark.
            mark = marks.get(finding.finding_id)
            hunt_cells = [cell_text(finding.row.get(c)) for c in hunt_columns]
            rows.append([run.rule_id, run.rule_name, finding.finding_id,
                         *_mark_cells(mark), PRESENT, *hunt_cells])
        for mark in absent_by_rule.pop(run.rule_id, []):
            rows.append(_absent_row(mark, run.rule_name, hunt_columns))
    run_rules = {run.rule_id for run in runs}
    for rule_id, leftover in absent_by_rule.items():
        if rule_ids is not None and rule_id not in rule_ids:
            continue
        if rule_id in run_rules:  # its rule ran but was not chosen for this export
            continue
        rows += [_absent_row(mark, "", hunt_columns) for mark in leftover]
    return header, rows


def _mark_cells(mark: Mark | None) -> list[str]:
    if mark is None:
        return [UNREVIEWED, "", "", ""]
    return [mark.disposition, mark.note, mark.analyst, iso_utc(mark.marked_at)]


def _absent_row(mark: Mark, rule_name: str, hunt_columns: Sequence[str]) -> list[str]:
    return [mark.rule_id, rule_name, mark.finding_id, *_mark_cells(mark), NO_LONGER_PRESENT,
            *([""] * len(hunt_columns))]


def evidence_conflict(path: Path, evidence: Iterable[Path]) -> str | None:
    """Why writing ``path`` would touch evidence (it is an evidence file, inside an evidence
    folder, or beside an evidence file), or None. Symlinks are followed both ways."""
    target = Path(os.path.abspath(Path(path).expanduser()))
    targets = {target, target.resolve(strict=False)}
    for item in evidence:
        item_abs = Path(os.path.abspath(Path(item).expanduser()))
        for ev in {item_abs, item_abs.resolve(strict=False)}:
            folder = ev if ev.is_dir() else ev.parent
            for candidate in targets:
                if candidate == ev:
                    return f"it is the evidence file {ev}"
                if candidate == folder or folder in candidate.parents:
                    return f"it is inside evidence folder {folder}"
    return None


def check_export_path(path: Path, evidence: Iterable[Path] = (), *,
                      overwrite: bool = True) -> Path:
    """The absolute path to write, or ``ExportPathError``: never an evidence file, never
    inside an evidence folder or beside an evidence file, never a folder, and the folder
    it goes in must exist (a mistyped path should not silently create folders)."""
    raw = Path(path).expanduser()
    if str(path) == "" or raw.name in ("", ".", ".."):
        raise ExportPathError(f"export path {str(path)!r} is not a file name")
    target = Path(os.path.abspath(raw))
    hit = evidence_conflict(target, evidence)
    if hit is not None:
        raise ExportPathError(f"refusing to write {target}: {hit} (evidence is read-only; "
                              f"write the export elsewhere)")
    if target.is_dir():
        raise ExportPathError(f"export path {target} is a folder; give a file name")
    if not target.parent.is_dir():
        raise ExportPathError(f"folder {target.parent} does not exist; create it first")
    if target.exists() and not overwrite:
        raise ExportPathError(f"{target} already exists; use --force to replace it")
    return target


def write_findings_csv(path: Path, runs: Sequence[HuntRun], marks: Mapping[str, Mark], *,
                       include_unreviewed: bool = False,
                       rule_ids: Collection[str] | None = None,
                       evidence: Iterable[Path] = (), overwrite: bool = True,
                       bom: bool = False) -> int:
    """Write the export atomically; returns the number of finding rows written.

    Pass the case's evidence paths as ``evidence`` to refuse unsafe targets (see
    ``check_export_path``).
    """
    target = check_export_path(path, evidence, overwrite=overwrite)
    header, rows = export_table(runs, marks, include_unreviewed=include_unreviewed,
                                rule_ids=rule_ids)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8-sig" if bom else "utf-8", newline="") as out:
            write_csv(out, header, rows)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass
        raise
    fsync_dir(target.parent)
    return len(rows)


def write_csv(stream: TextIO, header: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    """Header and rows as RFC 4180 CSV (CRLF row ends) with every cell made inert. The
    stream must be opened with ``newline=""`` so that newlines inside cells stay as they are."""
    writer = csv.writer(stream, lineterminator="\r\n")
    writer.writerow([_csv_cell(c) for c in header])
    for row in rows:
        writer.writerow([_csv_cell(c) for c in row])


def _csv_cell(text: str) -> str:
    return inert_cell(_SURROGATE.sub("\ufffd", text))
