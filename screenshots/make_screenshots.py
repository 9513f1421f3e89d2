"""Write screenshots/*.svg: each console screen on the built-in demo case, from the real app.

Usage: python screenshots/make_screenshots.py [--out screenshots] [--size 120x40]

The demo evidence and case are created in a temporary folder (HOME and XDG_DATA_HOME point
there), so the pictures show ``~/...`` paths and never touch the user's own demo case.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# name -> keys pressed after the case has loaded
SHOTS = {
    "overview": [],
    "servers": ["2"],
    "files": ["3"],
    # A rule folder holding only Sentinel KQL (EXAMPLE_RULE, written for this shot): the
    # screen the console builds from what the engine derives for it.
    "hunt": [],
    "filter": ["3", "slash", "z", "i", "p"],
    "detail": ["3", "enter"],
    "palette": ["ctrl+p", "e", "x", "c", "h", "0", "4"],
    "help": ["question_mark"],
}


EXAMPLE_RULE = """\
id: 5e1f0a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b
name: ECP requests per client
description: Clients requesting the Exchange Control Panel, per server.
severity: Medium
query: |
  W3CIISLog
  | where csUriStem has "/ecp/"
  | summarize Requests = count() by Computer, cIP
  | extend HostCustomEntity = Computer, IPCustomEntity = cIP
  | order by Computer asc, cIP asc
entityMappings:
  - entityType: Host
    fieldMappings: [{identifier: FullName, columnName: HostCustomEntity}]
  - entityType: IP
    fieldMappings: [{identifier: Address, columnName: IPCustomEntity}]
"""
EXAMPLE_VIEW = "hunt-ecprequests"


async def _shoot(name: str, keys: list[str], size: tuple[int, int], out: Path) -> Path:
    from tui.app import ExhuntApp
    from tui.screens.state import CaseSource

    rules_dirs = []
    if name == "hunt":
        rules_dirs = [Path(os.environ["HOME"]) / "example-rules"]
        rules_dirs[0].mkdir(exist_ok=True)
        (rules_dirs[0] / "EcpRequests.yaml").write_text(EXAMPLE_RULE, encoding="utf-8")
    app = ExhuntApp(CaseSource(demo=True, rules_dirs=rules_dirs))
    async with app.run_test(size=size) as pilot:
        await _settle(pilot)
        if name == "hunt":
            app.main.action_show_view(EXAMPLE_VIEW)
            await _settle(pilot)
        for key in keys:
            await pilot.press(key)
            await _settle(pilot)
        await pilot.pause(0.3)  # the palette searches asynchronously
        await _settle(pilot)
        path = out / f"{name}.svg"
        path.write_text(app.export_screenshot(title=f"exhunt: {name}"), encoding="utf-8")
    return path


async def _settle(pilot) -> None:
    app = pilot.app
    for _ in range(1000):
        await app.workers.wait_for_complete()
        await pilot.pause()
        if app.main.data is not None and not any(w.is_running for w in app.workers):
            return


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "screenshots")
    parser.add_argument("--size", default="120x40", help="WIDTHxHEIGHT (default 120x40)")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="exhunt-shots-") as tmp:
        os.environ["HOME"] = tmp
        os.environ["XDG_DATA_HOME"] = str(Path(tmp) / "data")
        os.environ.pop("NO_COLOR", None)
        sys.path.insert(0, str(REPO))
        for name, keys in SHOTS.items():
            path = asyncio.run(_shoot(name, keys, (width, height), args.out.resolve()))
            print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
