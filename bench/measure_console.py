"""How fast the console answers: the `/` filter at 100,000 findings, the virtual table's
first paint, and the pane queries behind a selection on the generated case.

Run by bench/bench.py (``measure(ctx)``) or on its own for the parts that need no logs:
``python bench/measure_console.py``.
"""
from __future__ import annotations

import asyncio
import random
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tui.search import Query, SearchIndex, filter_rows  # noqa: E402
from tui.widgets.table import Row  # noqa: E402

FINDINGS = 100_000
# What an analyst types, keystroke by keystroke: a file name, a typo, an IP, two terms.
TYPED = ["backup.zip", "bakcup", "203.0.113.7", "exch02 zip"]


def _findings(n: int) -> list[Row]:
    """Hunt-B-shaped rows (file, server, IP, count, times, disposition), seeded."""
    rnd = random.Random(7)
    words = ["logo", "favicon", "sprite", "backup", "export", "bg_outlook", "segoeui", "owa",
             "themes", "resources", "images", "clear", "flogon", "x", "err", "office"]
    exts = ["png", "gif", "zip", "7z", "js", "css", "woff", "jpg", "rar", "txt"]
    rows = []
    for i in range(n):
        name = f"{rnd.choice(words)}{rnd.randint(0, 9999)}.{rnd.choice(exts)}"
        server = f"EXCH0{rnd.randint(1, 4)}.contoso.com"
        ip = f"{rnd.choice([203, 198, 192, 45, 91])}.{rnd.randint(0, 255)}." \
             f"{rnd.randint(0, 255)}.{rnd.randint(1, 254)}"
        day = rnd.randint(1, 9)
        rows.append(Row(f"f{i}", [name, server, ip, str(rnd.randint(1, 2)),
                                  f"2021-03-0{day} 0{rnd.randint(0, 9)}:14:07",
                                  f"2021-03-0{day} 1{rnd.randint(0, 9)}:02:51", "unreviewed"]))
    return rows


def filter_figures(n: int = FINDINGS) -> list[tuple[str, str]]:
    rows = _findings(n)
    started = time.perf_counter()
    index = SearchIndex([r.searchable() for r in rows]).build_words()
    index_s = time.perf_counter() - started
    times, cpu = [], []
    for text in TYPED:
        previous: tuple[Query, list[int]] | None = None
        for end in range(1, len(text) + 1):
            # As the table does it: a keystroke that narrows an exact result searches only it.
            query = Query.parse(text[:end])
            within = previous[1] if previous and query.narrows(previous[0]) else None
            fuzzy: list[bool] = []
            started, started_cpu = time.perf_counter(), time.process_time()
            found = filter_rows(index, query, within, fuzzy)
            times.append(time.perf_counter() - started)
            cpu.append(time.process_time() - started_cpu)
            previous = None if fuzzy else (query, found)
    def summary(values: list[float]) -> str:
        ordered = sorted(values)
        p95 = ordered[round(0.95 * (len(ordered) - 1))]
        return (f"{statistics.median(values) * 1000:.1f} / {p95 * 1000:.1f} / "
                f"{max(values) * 1000:.1f} ms")

    return [
        (f"console: filter keystroke at {n:,} findings, wall (median / p95 / max of "
         f"{len(times)})", summary(times)),
        # CPU time of this process: what a keystroke costs when the machine is not shared.
        (f"console: filter keystroke at {n:,} findings, CPU (median / p95 / max)",
         summary(cpu)),
        (f"console: filter index of {n:,} findings (built once, in the loading worker)",
         f"{index_s * 1000:.0f} ms"),
    ]


def table_figures(n: int = FINDINGS) -> list[tuple[str, str]]:
    """Time from handing the table 100k rows to the first painted frame (headless)."""
    from textual.app import App

    from engine.rules import find_rule, load_rules
    from tui.screens.rows import table_columns
    from tui.widgets.table import VirtualTable

    # The suspicious-files list as hunt B declares it.
    file_columns = table_columns(find_rule(load_rules(), "owa-export").console.columns,
                                 findings=True)

    rows = _findings(n)
    timings: dict[str, float] = {}

    class Bench(App):
        def compose(self):
            yield VirtualTable(file_columns)

    async def run() -> None:
        app = Bench()
        async with app.run_test(size=(120, 40)) as pilot:
            table = app.query_one(VirtualTable)
            started = time.perf_counter()
            table.set_rows(rows)
            await pilot.pause()
            timings["paint"] = time.perf_counter() - started
            started = time.perf_counter()
            for _ in range(50):
                await pilot.press("pagedown")
            await pilot.pause()
            timings["page"] = (time.perf_counter() - started) / 50
            # Pilot's own cost per key (an unbound key), to subtract from the page figure.
            started = time.perf_counter()
            for _ in range(50):
                await pilot.press("f12")
            await pilot.pause()
            timings["noop"] = (time.perf_counter() - started) / 50
            started = time.perf_counter()
            for y in range(40):
                table.render_line(y)
            timings["lines"] = time.perf_counter() - started

    asyncio.run(run())
    return [
        (f"console: {n:,} findings to first painted frame (120x40)",
         f"{timings['paint'] * 1000:.0f} ms"),
        ("console: page down, key to frame (mean of 50; Pilot's own per-key cost)",
         f"{timings['page'] * 1000:.1f} ms ({timings['noop'] * 1000:.1f} ms)"),
        ("console: drawing a 40-line page of findings", f"{timings['lines'] * 1000:.1f} ms"),
    ]


def query_figures(ctx) -> list[tuple[str, str]]:
    """Pane queries on a case ingested from the generated logs."""
    from engine.case import open_case
    from engine.drilldown import Drilldown
    from engine.findings import HuntRun
    from engine.hunts import presentation_of
    from engine.rules import find_rule, load_rules

    case_dir = ctx.scratch("console-case")
    case = open_case(case_dir, [ctx.log_dir])
    case.ingest([ctx.log_dir])
    con = case.connect()
    drill = Drilldown(con)
    rows = con.execute("SELECT count(*) FROM W3CIISLog").fetchone()[0]
    computer, stem, ip = con.execute(
        "SELECT Computer, csUriStem, cIP FROM W3CIISLog WHERE csUriStem LIKE '/owa/%' "
        "LIMIT 1").fetchone()

    def timed(fn) -> float:
        samples = []
        for _ in range(3):
            started = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - started)
        return statistics.median(samples)

    # Hunt B's two panes, as the console fills them for a finding on that path.
    rule = find_rule(load_rules(), "owa-export")
    run = HuntRun(rule.id, rule.slug, rule.name, list(rule.columns), rule=rule)
    run.presentation = presentation_of(run)
    panes = {p.id: p for p in run.presentation.panes}
    finding = {"TenantId": "", "Computer": computer, "csUriStem": stem, "AccessingIPs": [ip]}
    requests_s = timed(lambda: drill.pane_rows(run, panes["requests"], finding))
    pivot_s = timed(lambda: drill.pane_rows(run, panes["pivot"], finding))
    stats_s = timed(drill.evidence_stats)
    return [
        (f"console: requests behind a file finding ({rows:,} rows)", f"{requests_s * 1000:.0f} ms"),
        (f"console: client-IP pivot ({rows:,} rows)", f"{pivot_s * 1000:.0f} ms"),
        (f"console: overview evidence stats ({rows:,} rows)", f"{stats_s * 1000:.0f} ms"),
    ]


def measure(ctx) -> list[tuple[str, str]]:
    return filter_figures() + table_figures() + query_figures(ctx)


if __name__ == "__main__":
    for metric, value in filter_figures() + table_figures():
        print(f"{metric}: {value}")
