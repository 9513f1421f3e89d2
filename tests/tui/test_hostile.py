"""Hostile names from evidence render literally everywhere: never markup, never terminal
control. The evidence goes through the real ingest and hunts."""
from __future__ import annotations

import html
import re

import pytest

from tests.tui.conftest import pilot_test, settle, wait_loaded
from tui.app import ExhuntApp
from tui.screens.detail import DetailScreen
from tui.screens.state import CaseSource

HOSTILE_STEMS = {
    "link": "/owa/auth/[link=http://x]y[/link].png",
    "close": "/owa/auth/[/]b.png",
    "click": "/owa/auth/[@click=app.quit]q.png",
    "osc": "/owa/auth/\x1b]8;;http://evil\x1b\\o.png",
    "csi": "/owa/auth/\x1b[2J\x1b[31mc.png",
    "bidi": "/owa/auth/invoice\u202egnp.zip",
    "c1": "/owa/auth/\x9b31mc1.png",
}
# What the analyst must see for each (escapes visible, markup literal).
SHOWN = {
    "link": "[link=http://x]y[/link].png",
    "close": "[/]b.png",
    "click": "[@click=app.quit]q.png",
    "osc": "\\x1b]8;;http://evil\\x1b\\o.png",
    "csi": "\\x1b[2J\\x1b[31mc.png",
    "bidi": "invoice\\u202egnp.zip",
    "c1": "\\x9b31mc1.png",
}

FIELDS = ("date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip "
          "cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken")


@pytest.fixture
def hostile_source(tmp_path, monkeypatch) -> CaseSource:
    monkeypatch.setenv("HOME", str(tmp_path))
    folder = tmp_path / "evidence" / "EXCH01.contoso.com" / "W3SVC1"
    folder.mkdir(parents=True)
    lines = ["#Software: Microsoft Internet Information Services 10.0", "#Version: 1.0",
             "#Date: 2021-03-02 00:00:00", f"#Fields: {FIELDS}"]
    for i, stem in enumerate(HOSTILE_STEMS.values()):
        lines.append(f"2021-03-02 08:0{i}:00 10.0.0.1 GET {stem} - 443 - 203.0.113.{i + 5} "
                     f"Mozilla/5.0+[b]x[/b] - 200 0 0 15")
    (folder / "u_ex210302.log").write_bytes(("\r\n".join(lines) + "\r\n").encode("utf-8"))
    return CaseSource(evidence=[tmp_path / "evidence"], case_dir=tmp_path / "case")


def screen_text(app) -> str:
    """The characters on screen, as the terminal would receive them (SVG text unescaped)."""
    svg = app.export_screenshot()
    return html.unescape(re.sub(r"<[^>]+>", "", svg)).replace("\u00a0", " ")


@pilot_test
async def test_hostile_paths_show_literally_in_the_server_file_list(hostile_source):
    app = ExhuntApp(hostile_source)
    async with app.run_test(size=(200, 80)) as pilot:
        await wait_loaded(pilot)
        await pilot.press("2")
        await settle(pilot)
        shown = screen_text(app)
        for key, expected in SHOWN.items():
            assert expected in shown, key
        assert "\x1b" not in shown and "\u202e" not in shown and "\x9b" not in shown
        assert app.is_running  # [@click=app.quit] did not quit, [/] did not crash


@pilot_test
async def test_hostile_names_show_literally_in_the_detail_view(hostile_source):
    app = ExhuntApp(hostile_source)
    async with app.run_test(size=(200, 40)) as pilot:
        await wait_loaded(pilot)
        await pilot.press("3")
        table = app.main.files.files.table
        table.move_to_key(next(r.key for r in table.rows
                               if r.data.row["csUriStem"] == HOSTILE_STEMS["osc"]))
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, DetailScreen)
        shown = screen_text(app)
        assert "/owa/auth/" + SHOWN["osc"] in shown
        assert "\x1b" not in shown


@pilot_test
async def test_hostile_names_show_literally_in_the_palette(hostile_source):
    app = ExhuntApp(hostile_source)
    async with app.run_test(size=(200, 40)) as pilot:
        await wait_loaded(pilot)
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"link=")
        for _ in range(50):
            await pilot.pause(0.05)
            if "[link=http://x]y[/link].png" in screen_text(app):
                break
        shown = screen_text(app)
        assert "[link=http://x]y[/link].png" in shown
        assert "\x1b" not in shown


@pilot_test
async def test_user_agents_show_plus_as_space_and_markup_literally(hostile_source):
    app = ExhuntApp(hostile_source)
    async with app.run_test(size=(200, 40)) as pilot:
        await wait_loaded(pilot)
        await pilot.press("3")
        await settle(pilot)
        assert "Mozilla/5.0 [b]x[/b]" in screen_text(app)
