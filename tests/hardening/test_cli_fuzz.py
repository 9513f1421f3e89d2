"""The same damaged evidence through ``exhunt scan`` in a subprocess, as an analyst runs it:
the command finishes in time, exits 0, prints the JSON report, and names every bad line with
its file, line number and exact text."""
from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

from . import corpus, mutate
from .harness import brief, check_report, scan_cli

SEED = 77


def _mixed_corpus(root: Path, rng: random.Random, count: int) -> None:
    w3c = corpus.w3c_seed(rows=6)
    exports = {
        fmt: corpus.EXPORT_WRITERS[fmt](corpus.export_seed(table, "cli").records)
        for fmt in ("csv", "jsonl", "json")
        for table in ("W3CIISLog", "SecurityAlert")
    }
    for n in range(count):
        folder = root / f"EXCH{n % 3:02d}" / "W3SVC1"
        folder.mkdir(parents=True, exist_ok=True)
        pick = rng.randrange(4)
        if pick == 0:
            data, name = mutate.mutate(w3c, rng), f"u_ex{n:04d}.log"
        elif pick == 1:
            data, name = corpus.gzip_bytes(mutate.mutate(w3c, rng)), f"u_ex{n:04d}.log.gz"
        elif pick == 2:
            fmt = rng.choice(sorted(exports))
            data, name = mutate.mutate(exports[fmt], rng), f"export{n:04d}.{fmt}"
        else:
            data, name = mutate.mutate(w3c, rng, big=rng.random() < 0.1), f"u_ex{n:04d}.log"
        (folder / name).write_bytes(data)


def test_scan_of_a_damaged_folder_finishes_and_accounts_for_every_file(tmp_path, evidence_dir):
    _mixed_corpus(evidence_dir, random.Random(SEED), count=40)
    result = scan_cli([evidence_dir], tmp_path / "case", "--bad-lines", timeout=300)
    result.assert_no_traceback()
    assert result.returncode == 0, result.stderr[-3000:]
    entries = check_report(result.report, [evidence_dir])
    named = Counter(item["path"] for item in result.report["bad_line_list"])
    for entry in entries.values():
        assert named[entry["path"]] == entry["bad_lines"], brief(entry)


def test_every_bad_line_is_named_with_its_file_line_number_and_text(tmp_path, evidence_dir):
    good = corpus.w3c_seed(rows=3).decode()
    bad_texts = ["2021-03-02 08:00:00 short row", "x" * 50, "2021-03-02 " + "f " * 40]
    for n in range(4):
        lines = good.splitlines()
        for k, text in enumerate(bad_texts[: n + 1]):
            lines.insert(5 + 2 * k, f"{text} #{n}")
        (evidence_dir / f"u_ex{n:04d}.log").write_text("\n".join(lines) + "\n")
    result = scan_cli([evidence_dir], tmp_path / "case", "--bad-lines")
    assert result.returncode == 0, result.stderr
    report = result.report
    entries = check_report(report, [evidence_dir])
    named = report["bad_line_list"]
    per_file = Counter(item["path"] for item in named)
    for key, entry in entries.items():
        assert per_file[entry["path"]] == entry["bad_lines"], brief(entry)
    for item in named:
        lines = Path(item["path"]).read_text().splitlines()
        assert lines[item["line"] - 1] == item["text"], item
    assert sum(e["bad_lines"] for e in entries.values()) == 1 + 2 + 3 + 3
