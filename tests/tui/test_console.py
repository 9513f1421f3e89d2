"""The console driven like an analyst does it, on the real demo case (App.run_test + Pilot)."""
from __future__ import annotations

import csv

from engine.dispositions import DispositionStore
from tests.tui.conftest import pilot_test, settle, wait_loaded
from tui.app import ExhuntApp
from tui.screens.detail import DetailScreen
from tui.screens.help import HelpScreen
from tests.seed_hunts import HUNT_A, HUNT_B

MARK_KEYS = {"t": "true-positive", "f": "false-positive", "b": "benign",
             "i": "needs-follow-up"}


@pilot_test
async def test_the_first_screen_paints_before_the_case_is_loaded(demo_app):
    async with demo_app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert demo_app.screen is demo_app.main  # painted while the load runs
        await wait_loaded(pilot)
        assert demo_app.main.data is not None


@pilot_test
async def test_the_overview_counts_the_findings_of_both_hunts(demo_app):
    async with demo_app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(pilot)
        data = demo_app.main.data
        assert len(data.findings(HUNT_A)) >= 3 and len(data.findings(HUNT_B)) >= 1
        text = str(demo_app.main.overview.query_one("#overview-body").render())
        assert f"{len(data.findings(HUNT_B))} findings" in text


@pilot_test
async def test_keys_1_2_3_switch_screens(demo_app):
    async with demo_app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(pilot)
        switcher = demo_app.main.query_one("ContentSwitcher")
        for key, view in (("2", "servers-view"), ("3", "files-view"), ("1", "overview")):
            await pilot.press(key)
            assert switcher.current == view


@pilot_test
async def test_the_servers_screen_shows_alerts_of_the_selected_server(demo_app):
    async with demo_app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(pilot)
        await pilot.press("2")
        table = demo_app.main.servers.servers.table
        alerted = next(r for r in table.rows if r.cells[1] not in ("none", "0"))
        table.move_to_key(alerted.key)
        await settle(pilot)
        alerts = demo_app.main.servers.alerts.table.rows
        assert alerts and all(a.data["SystemAlertId"] for a in alerts)


@pilot_test
async def test_the_files_screen_shows_the_requests_behind_a_finding_and_the_ip_pivot(demo_app):
    async with demo_app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(pilot)
        await pilot.press("3")
        await settle(pilot)
        finding = demo_app.main.files.files.table.cursor_row.data
        requests = demo_app.main.files.requests.table.rows
        assert requests
        assert {r.data["csUriStem"] for r in requests} == {finding.row["csUriStem"]}
        assert all("+" not in r.cells[6] for r in requests)  # user agent: '+' read as space
        pivot = demo_app.main.files.pivot.table.rows
        assert finding.row["csUriStem"] in {p.data["csUriStem"] for p in pivot}


@pilot_test
async def test_slash_filters_the_focused_list_and_escape_clears_it(demo_app):
    async with demo_app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(pilot)
        await pilot.press("3")
        table = demo_app.main.files.files.table
        total = len(table.rows)
        target = table.rows[-1].cells[0]
        await pilot.press("slash", *target)
        assert 1 <= len(table.view) < total or total == 1
        assert all(target.lower() in table.rows[i].searchable() for i in table.view)
        await pilot.press("escape")
        assert len(table.view) == total and table.query_text == ""


@pilot_test
async def test_each_mark_key_saves_to_the_store_and_shows_in_the_row(demo_app, demo_source):
    async with demo_app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(pilot)
        await pilot.press("3")
        table = demo_app.main.files.files.table
        fid = table.cursor_row.key
        store = DispositionStore(demo_source.case_dir / "dispositions.sqlite")
        for key, disposition in MARK_KEYS.items():
            await pilot.press(key)
            assert store.get(fid).disposition == disposition
            assert table.row_by_key(fid).cells[-1] == demo_app.main.data.disposition(fid)[:9] \
                or table.row_by_key(fid).cells[-1] in ("true-pos", "false-pos", "benign",
                                                        "follow-up")
        await pilot.press("u")
        assert store.get(fid).disposition == "unreviewed"
        assert table.row_by_key(fid).cells[-1] == "unreviewed"


@pilot_test
async def test_a_mark_shows_at_once_in_the_overview_counts(demo_app):
    async with demo_app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(pilot)
        await pilot.press("3", "t", "1")
        text = str(demo_app.main.overview.query_one("#overview-body").render())
        assert "true-pos 1" in text


@pilot_test
async def test_space_selects_and_a_mark_applies_to_every_selected_finding(demo_app, demo_source):
    async with demo_app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(pilot)
        await pilot.press("2")
        table = demo_app.main.servers.servers.table
        await pilot.press("space", "down", "space", "b")
        ids = [r.key for r in table.rows[:2]]
        marks = DispositionStore(demo_source.case_dir / "dispositions.sqlite").current()
        assert {fid: marks[fid].disposition for fid in ids} == dict.fromkeys(ids, "benign")
        assert not table.selected


@pilot_test
async def test_brackets_jump_between_unreviewed_findings(demo_app):
    async with demo_app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(pilot)
        await pilot.press("2")
        table = demo_app.main.servers.servers.table
        await pilot.press("t")  # first row is no longer unreviewed
        await pilot.press("right_square_bracket")
        assert table.cursor == 1
        await pilot.press("left_square_bracket")
        assert table.cursor == len(table.rows) - 1


@pilot_test
async def test_n_edits_the_note_of_the_finding(demo_app, demo_source):
    async with demo_app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(pilot)
        await pilot.press("3")
        fid = demo_app.main.files.files.table.cursor_row.key
        await pilot.press("n")
        await pilot.pause()
        await pilot.press(*"seen, by \"ops\"", "enter")
        mark = DispositionStore(demo_source.case_dir / "dispositions.sqlite").get(fid)
        assert mark.note == 'seen, by "ops"'


@pilot_test
async def test_e_exports_the_marked_findings_where_the_analyst_says(demo_app, tmp_path):
    async with demo_app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(pilot)
        await pilot.press("3", "t")
        fid = demo_app.main.files.files.table.cursor_row.key
        await pilot.press("e")
        await pilot.pause()
        prompt = demo_app.screen.query_one("#prompt-input")
        target = tmp_path / "marked.csv"
        prompt.value = str(target)
        await pilot.press("enter")
        await pilot.pause()
        with open(target, encoding="utf-8", newline="") as fh:
            rows = list(csv.reader(fh))
        assert len(rows) == 2 and fid in rows[1]
        assert any(str(target) in n.message for n in demo_app._notifications)


@pilot_test
async def test_marks_are_there_after_reopening_the_case(demo_source):
    first = ExhuntApp(demo_source)
    async with first.run_test(size=(80, 24)) as pilot:
        await wait_loaded(pilot)
        await pilot.press("3", "i")
        fid = first.main.files.files.table.cursor_row.key
    second = ExhuntApp(demo_source)
    async with second.run_test(size=(80, 24)) as pilot:
        await wait_loaded(pilot)
        await pilot.press("3")
        row = second.main.files.files.table.row_by_key(fid)
        assert row.cells[-1] == "follow-up"


@pilot_test
async def test_enter_shows_every_field_of_the_row(demo_app):
    async with demo_app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(pilot)
        await pilot.press("3", "enter")
        assert isinstance(demo_app.screen, DetailScreen)
        names = [name for name, _ in demo_app.screen.fields]
        assert {"csUriStem", "AccessingIPs", "AccessTimes", "Finding id"} <= set(names)
        await pilot.press("escape")
        assert demo_app.screen is demo_app.main


@pilot_test
async def test_question_mark_opens_the_help_and_escape_closes_it(demo_app):
    async with demo_app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(pilot)
        await pilot.press("question_mark")
        assert isinstance(demo_app.screen, HelpScreen)
        await pilot.press("escape")
        assert demo_app.screen is demo_app.main


@pilot_test
async def test_r_reruns_the_hunts_and_keeps_the_marks(demo_app):
    async with demo_app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(pilot)
        await pilot.press("3", "t")
        fid = demo_app.main.files.files.table.cursor_row.key
        before = demo_app.main.data
        await pilot.press("r")
        await settle(pilot)
        assert demo_app.main.data is not before
        assert demo_app.main.files.files.table.row_by_key(fid).cells[-1] == "true-pos"


@pilot_test
async def test_the_palette_jumps_to_a_file_by_fuzzy_name(demo_app):
    async with demo_app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(pilot)
        last = demo_app.main.data.findings(HUNT_B)[-1]
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*last.row["file_name"])
        for _ in range(50):
            await pilot.pause(0.05)
            if demo_app.screen.query("CommandList Option"):
                break
        # The best hit is highlighted; other hunts may name the same path further down.
        await pilot.press("enter")
        await settle(pilot)
        assert demo_app.main.query_one("ContentSwitcher").current == "files-view"
        assert demo_app.main.files.files.table.cursor_row.key == last.finding_id


@pilot_test
async def test_q_quits(demo_app):
    async with demo_app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(pilot)
        await pilot.press("q")
        await pilot.pause()
    assert demo_app.return_code == 0 or demo_app.return_code is None


@pilot_test
async def test_exhunt_alone_opens_the_built_in_demo_case():
    from engine.demo import demo_case_dir
    from tui.screens.state import CaseSource

    app = ExhuntApp(CaseSource(demo=True))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(pilot)
        assert app.main.data.case.path == demo_case_dir()
        assert app.main.data.findings(HUNT_B)


@pilot_test
async def test_tab_and_shift_tab_move_between_panes(demo_app):
    async with demo_app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(pilot)
        await pilot.press("2")
        servers = demo_app.main.servers
        assert demo_app.focused is servers.servers.table
        await pilot.press("tab")
        assert demo_app.focused is servers.alerts.table
        await pilot.press("tab")
        assert demo_app.focused is servers.server_files.table
        await pilot.press("shift+tab")
        assert demo_app.focused is servers.alerts.table


@pilot_test
async def test_every_screen_draws_under_no_color(demo_source, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app = ExhuntApp(demo_source)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(pilot)
        for keys in (["2"], ["3"], ["slash", "z", "i", "p"], ["escape", "enter"],
                     ["escape", "question_mark"], ["escape", "1"]):
            for key in keys:
                await pilot.press(key)
            await settle(pilot)
            assert app.is_running


@pilot_test
async def test_marks_saved_by_another_session_show_up(demo_app, demo_source):
    async with demo_app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(pilot)
        await pilot.press("3")
        table = demo_app.main.files.files.table
        finding = table.cursor_row.data
        other = DispositionStore(demo_source.case_dir / "dispositions.sqlite")
        other.mark([finding.finding_id], "benign", rule_id=finding.rule_id)
        assert demo_app.main.sync_marks() == 1  # what the two-second poll calls
        assert table.row_by_key(finding.finding_id).cells[-1] == "benign"
