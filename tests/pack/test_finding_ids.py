"""A pack finding keeps its id when the case is re-ingested: from the evidence moved to
another folder (FileUri changes), and with more evidence that grows its counts and times."""
from __future__ import annotations

import shutil
from datetime import datetime

from engine import demo as d
from engine.demo_traffic import DEFAULT_FIELDS, EXTENDED_FIELDS, IIS10, UA, Request, header_block, render_line
from tests.pack.conftest import hunt_jsonl, iso, pack_slugs


def ids(run: dict) -> dict[str, list[str]]:
    return {slug: sorted(line["finding"] for line in lines) for slug, lines in run.items()}


def rows_by_id(run: dict, slug: str) -> dict[str, dict]:
    return {line["finding"]: line["row"] for line in run[slug]}


def write_log(path, fields, server, requests: list[Request]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = header_block(IIS10, requests[0].at, fields) + [render_line(r, server, fields) for r in requests]
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")


def test_finding_ids_survive_moving_and_reingesting_the_evidence(demo, pack_run, tmp_path):
    moved = tmp_path / "elsewhere" / "evidence"
    shutil.copytree(demo.dest, moved)
    again = hunt_jsonl(moved, tmp_path / "case", pack_slugs(), "--now", iso(d.DEMO_NOW))
    assert ids(again) == ids(pack_run)
    assert all(ids(pack_run).values())


def test_growing_findings_keep_their_ids_as_more_evidence_arrives(demo, pack_run, tmp_path):
    evidence = tmp_path / "evidence"
    shutil.copytree(demo.dest, evidence)
    # Activity logged just after midnight, before the collection (DEMO_NOW).
    write_log(evidence / d.EXCH02.folder / "u_ex210304.log", EXTENDED_FIELDS, d.EXCH02.server, [
        Request(datetime(2021, 3, 4, 0, 1, 0), "GET", d.SHELL2_STEM, "c=whoami", client_ip=d.ATTACKER,
                user_agent=d.SHELL2_AGENT)])
    write_log(evidence / d.EXCH04.folder / "u_ex210304.log", DEFAULT_FIELDS, d.EXCH04.server, [
        Request(datetime(2021, 3, 4, 0, 2, 0), "POST", "/EWS/Exchange.asmx", client_ip=d.SPRAY,
                user=d.staff()[d.SPRAY_VICTIM].upn, user_agent=UA[d.SPRAY_AGENTS[1]])])
    write_log(evidence / d.EXCH01.folder / "u_ex210304.log", DEFAULT_FIELDS, d.EXCH01.server, [
        Request(datetime(2021, 3, 4, 0, 3, 0), "GET", "/owa/auth/logon.aspx", "replaceCurrent=1",
                client_ip=d.RECON, user_agent="Wget/1.20.3 (linux-gnu)", status=403)])
    grown = hunt_jsonl(evidence, tmp_path / "case", pack_slugs(), "--now", iso(d.DEMO_NOW))
    for slug, column, more in (("alert-linked-requests", "RequestCount", 1),
                               ("webshell-commands", "ConnectionCount", 1),
                               ("many-user-agents", "ConnectionCount", 1)):
        before, after = rows_by_id(pack_run, slug), rows_by_id(grown, slug)
        assert set(after) == set(before), slug
        grew = [fid for fid in before if after[fid][column] == before[fid][column] + more]
        assert len(grew) == 1, slug
    [(fid, row)] = rows_by_id(grown, "iis-brute-force").items()
    assert list(rows_by_id(pack_run, "iis-brute-force")) == [fid]
    assert len(row["set_LogonSuccessTime"]) == len(d.SPRAY_SUCCESSES) + 1
