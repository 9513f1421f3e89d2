"""Any hunt, triaged in the console: a rule folder holding only Sentinel keys and KQL, written
here, is loaded on the demo case and gets its own screen with filter, marks and export, with
no code naming it anywhere (issue #11)."""
from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import pytest
import yaml

from engine.dispositions import DispositionStore
from tests.tui.conftest import pilot_test, settle, wait_loaded
from tui.app import ExhuntApp
from tui.screens.help import HelpScreen
from tests.seed_hunts import HUNT_B

RULE_ID = "5e1f0a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"
RULE_NAME = "ECP requests per client"
# Only keys a Sentinel hunting query has: no slug, columns, key_columns, sql, console.
RULE = {
    "id": RULE_ID,
    "name": RULE_NAME,
    "description": "Clients requesting the Exchange Control Panel, per server.",
    "severity": "Medium",
    "requiredDataConnectors": [{"connectorId": "AzureMonitor(IIS)", "dataTypes": ["W3CIISLog"]}],
    "tactics": ["InitialAccess"],
    "relevantTechniques": ["T1190"],
    "query": 'W3CIISLog\n| where csUriStem has "/ecp/"\n'
             "| summarize Requests = count() by Computer, cIP\n"
             "| extend HostCustomEntity = Computer, IPCustomEntity = cIP\n"
             "| order by Computer asc, cIP asc\n",  # the same rows in the same order each run
    "entityMappings": [
        {"entityType": "Host", "fieldMappings": [{"identifier": "FullName",
                                                  "columnName": "HostCustomEntity"}]},
        {"entityType": "IP", "fieldMappings": [{"identifier": "Address",
                                                "columnName": "IPCustomEntity"}]},
    ],
    "version": "1.0.0",
}


def write_rule(folder: Path, rule: dict = RULE, name: str = "EcpRequests") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(rule, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture
def plugin_app(demo_source, tmp_path) -> ExhuntApp:
    folder = tmp_path / "my-rules"
    write_rule(folder)
    return ExhuntApp(dataclasses.replace(demo_source, rules_dirs=[folder]))


def plugin_view(app: ExhuntApp):
    return next(v for v in app.main.views.values() if v.run.rule_id == RULE_ID)


async def open_from_overview(app: ExhuntApp, pilot, rule_id: str) -> None:
    """What an analyst does for any hunt: 1, move the cursor to it, enter."""
    position = [r.rule_id for r in app.main.data.ordered_runs()].index(rule_id)
    await pilot.press("1", "home", *["down"] * position, "enter")
    await settle(pilot)


@pilot_test
async def test_a_kql_only_rule_folder_appears_in_the_overview(plugin_app):
    async with plugin_app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(pilot)
        run = plugin_app.main.data.run(RULE_ID)
        assert run is not None and run.findings
        text = str(plugin_app.main.overview.query_one("#overview-body").render())
        assert RULE_NAME in text and f"{len(run.findings)} findings" in text


@pilot_test
async def test_enter_on_the_overview_opens_the_hunt_under_the_cursor(plugin_app):
    async with plugin_app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(pilot)
        await open_from_overview(plugin_app, pilot, RULE_ID)
        view = plugin_view(plugin_app)
        assert plugin_app.main.query_one("ContentSwitcher").current == view.id
        assert plugin_app.focused is view.list.table
        assert len(view.list.table.rows) == len(plugin_app.main.data.run(RULE_ID).findings)


@pilot_test
async def test_the_number_key_after_the_seed_hunts_opens_the_third_hunt_in_order(plugin_app):
    async with plugin_app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(pilot)
        third = plugin_app.main.data.ordered_runs()[2]
        await pilot.press("4")
        view = plugin_app.main.views[list(plugin_app.main.views)[2]]
        assert view.run is third
        assert plugin_app.main.query_one("ContentSwitcher").current == view.id


@pilot_test
async def test_the_plugin_hunts_list_filters_on_its_visible_columns(plugin_app):
    async with plugin_app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(pilot)
        await open_from_overview(plugin_app, pilot, RULE_ID)
        table = plugin_view(plugin_app).list.table
        target = table.rows[-1].cells[0]
        await pilot.press("slash", *target)
        assert 1 <= len(table.view) <= len(table.rows)
        assert all(target.lower() in table.rows[i].searchable() for i in table.view)
        await pilot.press("escape")
        assert len(table.view) == len(table.rows)


@pilot_test
async def test_a_plugin_hunts_finding_is_marked_in_the_store_and_its_row(plugin_app,
                                                                          demo_source):
    async with plugin_app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(pilot)
        await open_from_overview(plugin_app, pilot, RULE_ID)
        table = plugin_view(plugin_app).list.table
        fid = table.cursor_row.key
        await pilot.press("t")
        mark = DispositionStore(demo_source.case_dir / "dispositions.sqlite").get(fid)
        assert (mark.disposition, mark.rule_id) == ("true-positive", RULE_ID)
        assert table.row_by_key(fid).cells[-1] == "true-pos"


@pilot_test
async def test_a_plugin_hunts_marked_finding_is_exported(plugin_app, tmp_path):
    async with plugin_app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(pilot)
        await open_from_overview(plugin_app, pilot, RULE_ID)
        fid = plugin_view(plugin_app).list.table.cursor_row.key
        await pilot.press("b", "e")
        await pilot.pause()
        target = tmp_path / "marked.csv"
        plugin_app.screen.query_one("#prompt-input").value = str(target)
        await pilot.press("enter")
        await pilot.pause()
        with open(target, encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh))
        assert any(fid in row.values() and RULE_NAME in row.values() for row in rows)


@pilot_test
async def test_the_palette_jumps_to_a_hunt_by_name(plugin_app):
    async with plugin_app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(pilot)
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"ecp requests per")
        for _ in range(50):
            await pilot.pause(0.05)
            if plugin_app.screen.query("CommandList Option"):
                break
        await pilot.press("enter")  # the best hit is highlighted
        await settle(pilot)
        view = plugin_view(plugin_app)
        assert plugin_app.main.query_one("ContentSwitcher").current == view.id


@pilot_test
async def test_the_status_line_counts_the_hunts_that_fit(plugin_app):
    async with plugin_app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(pilot)
        status = str(plugin_app.main.query_one("#status-text").render())
        # The seed hunts as before; a third hunt's counts would push the line past 80.
        assert status.startswith(" exhunt · 4 servers (4 unreviewed) · 3 files (3 unreviewed)")
        assert "findings (" not in status
    wide = ExhuntApp(plugin_app.source)
    async with wide.run_test(size=(200, 24)) as pilot:
        await wait_loaded(pilot)
        run = wide.main.data.ordered_runs()[2]
        status = str(wide.main.query_one("#status-text").render())
        # A derived presentation's noun is the generic "findings": the slug says which hunt.
        assert f" · {len(run.findings)} {run.rule_slug} ({len(run.findings)} unreviewed)" \
            in status


@pilot_test
async def test_the_help_names_each_number_key_after_its_hunt(plugin_app):
    async with plugin_app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(pilot)
        await pilot.press("question_mark")
        assert isinstance(plugin_app.screen, HelpScreen)
        titles = [r.presentation.title for r in plugin_app.main.data.ordered_runs()[:8]]
        assert [h.split(":")[0] for h in plugin_app.screen.hunts[:8]] == titles


@pilot_test
async def test_a_mark_redraws_the_finding_in_every_list_that_shows_it(demo_app):
    async with demo_app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(pilot)
        await pilot.press("2")
        servers = demo_app.main.servers
        table = servers.servers.table
        table.move_to_key(next(r.key for r in table.rows if r.cells[1] not in ("none", "0")))
        await settle(pilot)
        files_here = servers.server_files.table
        assert files_here.rows, "the alerted demo server has a hunt B finding"
        files_here.focus()
        await pilot.press("f")
        fid = files_here.cursor_row.key
        assert demo_app.main.data.finding(fid).rule_id == HUNT_B
        assert files_here.row_by_key(fid).cells[-1] == "false-pos"
        assert demo_app.main.files.files.table.row_by_key(fid).cells[-1] == "false-pos"


@pilot_test
async def test_hunts_beyond_the_number_keys_open_from_the_overview(demo_source, tmp_path):
    folder = tmp_path / "many"
    for n in range(9):  # with the seed hunts: more hunts than keys 2-9
        rule = dict(RULE, id=f"5e1f0a2b-3c4d-4e5f-8a9b-0c1d2e3f4a{n:02d}",
                    name=f"ECP requests, copy {n}")
        write_rule(folder, rule, f"Ecp{n}")
    app = ExhuntApp(dataclasses.replace(demo_source, rules_dirs=[folder]))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(pilot)
        last = app.main.data.ordered_runs()[-1]
        assert len(app.main.data.runs) > 9
        await open_from_overview(app, pilot, last.rule_id)
        view = next(v for v in app.main.views.values() if v.run is last)
        assert app.main.query_one("ContentSwitcher").current == view.id


@pilot_test
async def test_a_rule_files_hostile_name_shows_literally_on_its_screens(demo_source, tmp_path):
    from tests.tui.test_hostile import screen_text

    hostile = "[@click=app.quit]ECP[/] \x1b]8;;http://evil\x1b\\x"
    folder = tmp_path / "hostile-rules"
    write_rule(folder, dict(RULE, name=hostile))
    app = ExhuntApp(dataclasses.replace(demo_source, rules_dirs=[folder]))
    async with app.run_test(size=(200, 50)) as pilot:
        await wait_loaded(pilot)
        shown = "\\x1b]8;;http://evil\\x1b\\x"
        assert "[@click=app.quit]ECP[/] " + shown in screen_text(app)  # the overview
        await open_from_overview(app, pilot, RULE_ID)
        text = screen_text(app)
        assert "[@click=app.quit]ECP[/] " + shown in text and "\x1b" not in text
        assert app.is_running


def test_loading_says_which_hunt_runs_with_its_name_escaped(tmp_path):
    from engine.demo import write_demo
    from tui.screens.state import CaseSource, load_case

    write_demo(tmp_path / "evidence")
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "Odd.yaml").write_text("id: 0f0e0d0c-0000-4000-8000-0000000000bb\n"
                                    "name: \"odd\\e]8;;x\\aname\"\n"
                                    "query: W3CIISLog | summarize n = count() by Computer\n")
    heard: list[tuple[str, float | None]] = []
    data = load_case(CaseSource(evidence=[tmp_path / "evidence"], case_dir=tmp_path / "case",
                                rules_dirs=[rules]),
                     lambda message, fraction: heard.append((message, fraction)))
    running = [(m, f) for m, f in heard if m.startswith("Running the hunts: ")]
    assert len(running) == len(data.runs)
    assert running[0][0].startswith(f"Running the hunts: 1/{len(data.runs)} ")
    assert [f for _, f in running] == sorted(f for _, f in running)
    odd = [m for m, _ in running if "odd" in m]
    assert odd and "\x1b" not in odd[0] and "\\x1b" in odd[0]


@pilot_test
async def test_a_plugin_rule_whose_query_fails_shows_as_not_run_and_the_rest_loads(
        demo_source, tmp_path):
    from tests.tui.test_hostile import screen_text

    folder = tmp_path / "broken-rules"
    write_rule(folder, dict(RULE, query='W3CIISLog | where csUriStem matches regex "(" '
                                        "| summarize n = count() by Computer"))
    app = ExhuntApp(dataclasses.replace(demo_source, rules_dirs=[folder]))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(pilot)
        assert app.main.data.run(HUNT_B).findings  # the other hunts loaded
        overview = str(app.main.overview.query_one("#overview-body").render())
        block = overview[overview.index(RULE_NAME):]
        assert "did not run\n" in block and "this hunt did not run: " in block
        assert "0 findings" not in block.split("\n\n")[0]
        await open_from_overview(app, pilot, RULE_ID)
        assert "This hunt did not run: " in screen_text(app)


@pilot_test
async def test_an_export_while_a_hunt_did_not_run_says_its_marks_are_not_in_the_file(
        demo_source, tmp_path):
    folder = tmp_path / "broken-rules"
    write_rule(folder, dict(RULE, query='W3CIISLog | where csUriStem matches regex "("'))
    app = ExhuntApp(dataclasses.replace(demo_source, rules_dirs=[folder]))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(pilot)
        await pilot.press("e")
        await pilot.pause()
        target = tmp_path / "marked.csv"
        app.screen.query_one("#prompt-input").value = str(target)
        await pilot.press("enter")
        await pilot.pause()
        said = [n.message for n in app._notifications]
        assert target.exists()
        assert any("not in it: the marked findings of hunts that did not run (" + RULE_NAME
                   in message for message in said), said
