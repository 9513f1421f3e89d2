"""Markup and terminal escapes in every field the console shows, checked on what it actually
draws (every segment of every line): no evidence text becomes a link, an action or a style,
no control character reaches the terminal, and the hostile text is shown literally.

tests/tui/test_hostile.py covers file paths (lists, detail view, palette) and user agents;
this covers the other fields: server names, alert names and ids, tenant, method, status,
cookie, referer, user name, host, site, note and analyst, the IP pivot, the request detail
view, a filter typed with markup characters, and the notification after an export.
"""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from . import corpus

HOST, DOMAIN = "[b]exch[/b]", "x\x1b]8;;http://evil/\x07.com"
SERVER = f"{HOST}.{DOMAIN}"  # hunt A's ExchangeServer (already lower case)
STEM = "/owa/auth/dump[/].zip"
FIELDS = {
    "TenantId": "[link=http://evil/t]tenant[/link]",
    "csMethod": "[/]",
    "scStatus": "[red]200[/red]\x9b31m",
    "csCookie": "[@click=app.quit]cookie[/]",
    "csReferer": "\x1b]52;c;ZXZpbA==\x07referer",  # OSC 52: write the clipboard
    "csUserName": "CONTOSO\\[i]alice[/i]",
    "csHost": "mail\u202e.moc",
    "sSiteName": "W3SVC1\x1b[2J",
}
ALERT_NAME = "[@click=app.quit]Web shell[/]\x1b[31m"
ALERT_ID = "[link=http://evil/id]id[/link]"
NOTE = "[link=http://evil/n]note[/link]\x1b]0;title\x07"
ANALYST = "[blink]mallory[/blink]"
EVIDENCE_NAME = "evidence\x1b]8;;x\x07[b]seized"  # folder names are shown too
CASE_NAME = "[@click=app.quit]case"

# Code points that must never reach the terminal raw.
DANGEROUS = {*map(chr, range(0x00, 0x20)), "\x7f", *map(chr, range(0x80, 0xA0)),
             "\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068",
             "\u2069"} - {"\n"}


def _evidence(root: Path) -> None:
    rows = []
    for i in range(2):
        record = corpus.w3ciislog_record(i, stem=STEM)
        record.update(Computer=SERVER, cIP="203.0.113.9", **FIELDS)
        rows.append(record)
    rows.append(corpus.w3ciislog_record(9, stem="/owa/auth/[b]other[/b].css")
                | {"Computer": SERVER, "cIP": "203.0.113.9", **FIELDS})
    (root / "iis.jsonl").write_bytes(corpus.to_jsonl(rows))
    alert = corpus.securityalert_record(0, alert_id=ALERT_ID,
                                        entities=[corpus.host_entity(1, HOST, DOMAIN)])
    alert.update(AlertName=ALERT_NAME, DisplayName=ALERT_NAME)
    (root / "alerts.jsonl").write_bytes(corpus.to_jsonl([alert]))


def _drawn(app) -> tuple[str, list]:
    """The screen as drawn: its text, and every segment (text + style)."""
    strips = app.screen._compositor.render_strips()
    segments = [seg for strip in strips for seg in strip]
    return "\n".join("".join(seg.text for seg in strip) for strip in strips), segments


def _assert_inert(app, where: str) -> str:
    text, segments = _drawn(app)
    raw = sorted({repr(ch) for seg in segments for ch in seg.text if ch in DANGEROUS})
    assert not raw, f"{where}: control characters reach the terminal: {raw}"
    for seg in segments:
        style = seg.style
        if style is None:
            continue
        assert not (style.link and "evil" in style.link), f"{where}: evidence made a link"
        click = (style.meta or {}).get("@click")
        assert not (click and "quit" in repr(click)), f"{where}: evidence made an action"
        assert not style.blink, f"{where}: evidence text was parsed as a style"
    assert app.is_running, f"{where}: the console exited"
    return text


def _make_case(tmp_path: Path, case_name: str) -> tuple[Path, Path]:
    from engine.case import open_case
    from engine.dispositions import DispositionStore
    from engine.hunts import run_rules
    from engine.rules import load_rules

    evidence = tmp_path / EVIDENCE_NAME
    evidence.mkdir()
    _evidence(evidence)
    case = open_case(tmp_path / case_name, [evidence])
    case.ingest([evidence])
    con = case.connect()
    try:
        runs = run_rules(con, load_rules())
    finally:
        con.close()
    # The seed hunts' findings (the built-in Exchange pack finds some hostile requests too;
    # they stay unmarked).
    findings = {f.finding_id: run.rule_id for run in runs for f in run.findings
                if run.rule_slug in ("exchange-alerts", "owa-export")}
    assert len(findings) == 3, findings  # the server (hunt A), two files fetched once (B)
    store = DispositionStore(case.dispositions_path)
    store.mark(list(findings), "needs-follow-up", rule_id=findings, note=NOTE, analyst=ANALYST)
    return evidence, tmp_path / case_name


@pytest.fixture
def hostile_case(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    return _make_case(tmp_path, "case")


async def _loaded(app, pilot) -> None:
    for _ in range(600):
        await app.workers.wait_for_complete()
        await pilot.pause()
        if app.main.data is not None and not any(w.is_running for w in app.workers):
            return
    raise AssertionError("the case never finished loading")


async def _settle(app, pilot) -> None:
    await pilot.pause()
    await _loaded(app, pilot)


def _drive(coro_fn, hostile_case):
    from tui.app import ExhuntApp
    from tui.screens.state import CaseSource

    evidence, case_dir = hostile_case
    app = ExhuntApp(CaseSource(evidence=[evidence], case_dir=case_dir))

    async def run():
        # Toasts are off in run_test unless asked for: they are one of the places to check.
        async with app.run_test(size=(220, 60), notifications=True) as pilot:
            await _loaded(app, pilot)
            await coro_fn(app, pilot)

    asyncio.run(run())


def test_the_overview_shows_hostile_folder_names_literally(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    hostile_case = _make_case(tmp_path, CASE_NAME)

    async def check(app, pilot):
        await pilot.press("1")
        await _settle(app, pilot)
        text = _assert_inert(app, "overview")
        assert "evidence\\x1b]8;;x\\x07[b]seized" in text
        assert CASE_NAME in text

    _drive(check, hostile_case)


def test_server_names_alert_names_and_alert_ids_show_literally(hostile_case):
    async def check(app, pilot):
        await pilot.press("2")
        await _settle(app, pilot)
        text = _assert_inert(app, "servers screen")
        assert "[b]exch[/b].x\\x1b]8;;http://evil/\\x07.com" in text
        assert "[@click=app.quit]Web shell[/]\\x1b[31m" in text
        assert ALERT_ID in text

    _drive(check, hostile_case)


def test_request_rows_and_the_ip_pivot_show_every_field_literally(hostile_case):
    async def check(app, pilot):
        await pilot.press("3")
        await _settle(app, pilot)
        text = _assert_inert(app, "files screen")
        assert "[/]" in text and "[red]" in text and "[b]other[/b].css" in text

    _drive(check, hostile_case)


def test_the_detail_of_a_request_shows_every_hostile_field_literally(hostile_case):
    from tui.screens.detail import DetailScreen

    async def check(app, pilot):
        await pilot.press("3")
        await _settle(app, pilot)
        files = app.main.files
        requests = files.requests.table
        assert requests.rows, "no request rows behind the finding"
        requests.focus()
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, DetailScreen)
        text = _assert_inert(app, "request detail")
        for value in ("[link=http://evil/t]tenant[/link]", "[@click=app.quit]cookie[/]",
                      "\\x1b]52;c;ZXZpbA==\\x07referer", "CONTOSO\\[i]alice[/i]",
                      "mail\\u202e.moc", "W3SVC1\\x1b[2J", "[red]200[/red]\\x9b31m"):
            assert value in text, value

    _drive(check, hostile_case)


def test_the_note_and_analyst_of_a_mark_show_literally(hostile_case):
    from tui.screens.detail import DetailScreen

    async def check(app, pilot):
        await pilot.press("2")
        await _settle(app, pilot)
        app.main.servers.servers.table.focus()
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, DetailScreen)
        text = _assert_inert(app, "finding detail")
        assert "[link=http://evil/n]note[/link]\\x1b]0;title\\x07" in text
        assert ANALYST in text

    _drive(check, hostile_case)


def test_a_filter_typed_with_markup_characters_neither_crashes_nor_styles(hostile_case):
    async def check(app, pilot):
        await pilot.press("2")
        await _settle(app, pilot)
        app.main.servers.servers.table.focus()
        await pilot.press("/")
        await pilot.press(*"[/]")
        await _settle(app, pilot)
        _assert_inert(app, "filter [/]")
        await pilot.press("escape")
        await pilot.press("/")
        await pilot.press(*"[b]exch")
        await _settle(app, pilot)
        text = _assert_inert(app, "filter [b]exch")
        assert "[b]exch[/b]" in text

    _drive(check, hostile_case)


def test_the_notification_after_an_export_shows_a_hostile_path_literally(hostile_case, tmp_path):
    # "/" cannot be in a file name: nested folders spell "[link=http:/evil]out[/link]/...".
    out_dir = tmp_path / "[link=http:" / "evil]out[" / "link]"
    out_dir.mkdir(parents=True)
    target = out_dir / "[@click=app.quit]x[" / "].csv"
    target.parent.mkdir()

    async def check(app, pilot):
        await pilot.press("e")
        await pilot.pause()
        prompt = app.screen.query_one("Input")
        prompt.value = str(target)
        await pilot.press("enter")
        await _settle(app, pilot)
        assert target.is_file()
        messages = [str(n.message) for n in app._notifications]
        assert any("[@click=app.quit]x[/].csv" in m for m in messages), messages
        for _ in range(20):  # the toast is drawn on a later refresh
            await pilot.pause(0.05)
            text = _assert_inert(app, "export notification")
            if "Wrote" in text:
                break
        # The toast folds the long path over several lines, right of a "▌" gutter.
        toast = "".join(line.rsplit("\u258c", 1)[1].strip()
                        for line in text.splitlines() if "\u258c" in line)
        assert "[link=http:/evil]out[/link]/[@click=app.quit]x[/].csv" in toast, toast

    _drive(check, hostile_case)
