"""The dispositions store: what a mark records, what the current state is, and its history."""
from __future__ import annotations

import datetime as dt
import itertools
import os
import time
import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import engine.dispositions as dispositions
from engine.dispositions import DISPOSITIONS, DispositionError, DispositionStore


def test_a_mark_records_disposition_note_analyst_rule_and_utc_time(store_path):
    before = dt.datetime.now(dt.timezone.utc)
    with DispositionStore(store_path) as store:
        [mark] = store.mark(["f1"], "true-positive", rule_id="r1", note="seen in proxy", analyst="ana")
    assert (mark.finding_id, mark.rule_id, mark.disposition, mark.note, mark.analyst) == (
        "f1", "r1", "true-positive", "seen in proxy", "ana")
    assert mark.marked_at.tzinfo is not None and mark.marked_at.utcoffset() == dt.timedelta(0)
    assert before <= mark.marked_at <= dt.datetime.now(dt.timezone.utc)


def test_marks_are_kept_across_reopening(store_path):
    with DispositionStore(store_path) as store:
        store.mark(["f1", "f2"], "benign", rule_id="r1", analyst="ana")
    with DispositionStore(store_path) as store:
        assert {fid: m.disposition for fid, m in store.current().items()} == {"f1": "benign", "f2": "benign"}


def test_current_state_is_the_last_change(store_path):
    with DispositionStore(store_path) as store:
        store.mark(["f1"], "true-positive", analyst="ana")
        store.mark(["f1"], "false-positive", analyst="bob")
        assert store.current()["f1"].disposition == "false-positive"
        assert store.current()["f1"].analyst == "bob"


def test_setting_unreviewed_clears_the_mark(store_path):
    with DispositionStore(store_path) as store:
        store.mark(["f1"], "true-positive", note="x", analyst="ana")
        store.mark(["f1"], "unreviewed", analyst="ana")
        assert "f1" not in store.current()
        cleared = store.current(include_unreviewed=True)["f1"]
        assert (cleared.disposition, cleared.note) == ("unreviewed", "")


def test_history_lists_every_change_oldest_first_with_from_and_to(store_path):
    with DispositionStore(store_path) as store:
        store.mark(["f1"], "needs-follow-up", analyst="ana")
        store.mark(["f2"], "benign", analyst="ana")
        store.mark(["f1"], "true-positive", note="confirmed", analyst="bob")
        store.mark(["f1"], "unreviewed", analyst="cy")
        history = store.history("f1")
    assert [(c.previous, c.disposition, c.analyst) for c in history] == [
        ("unreviewed", "needs-follow-up", "ana"),
        ("needs-follow-up", "true-positive", "bob"),
        ("true-positive", "unreviewed", "cy"),
    ]
    assert [c.note for c in history] == ["", "confirmed", ""]
    assert history[0].changed_at <= history[1].changed_at <= history[2].changed_at


def test_history_of_a_never_marked_finding_is_empty(store_path):
    with DispositionStore(store_path) as store:
        assert store.history("nope") == []


def test_changes_lists_the_whole_case_in_commit_order(store_path):
    with DispositionStore(store_path) as store:
        store.mark(["a"], "benign", analyst="x")
        store.mark(["b", "c"], "benign", analyst="x")
        assert [c.finding_id for c in store.changes()] == ["a", "b", "c"]
        assert store.last_change() == 3


def test_a_mark_without_a_note_keeps_the_current_note(store_path):
    with DispositionStore(store_path) as store:
        store.mark(["f1"], "needs-follow-up", note="ask the mailbox owner", analyst="ana")
        [mark] = store.mark(["f1"], "true-positive", analyst="ana")
    assert mark.note == "ask the mailbox owner"


def test_set_note_keeps_each_findings_disposition(store_path):
    with DispositionStore(store_path) as store:
        store.mark(["f1"], "benign", analyst="ana")
        store.set_note(["f1", "f2"], "checked", analyst="ana")
        current = store.current(include_unreviewed=True)
    assert (current["f1"].disposition, current["f1"].note) == ("benign", "checked")
    assert (current["f2"].disposition, current["f2"].note) == ("unreviewed", "checked")


def test_repeating_the_same_mark_adds_no_history(store_path):
    with DispositionStore(store_path) as store:
        store.mark(["f1"], "benign", note="n", analyst="ana")
        [again] = store.mark(["f1"], "benign", analyst="bob")
        store.mark(["never-marked"], "unreviewed", analyst="bob")
        assert len(store.history("f1")) == 1
        assert again.analyst == "ana"
        assert store.history("never-marked") == []


def test_rule_id_can_differ_per_finding_and_is_kept_when_later_unknown(store_path):
    with DispositionStore(store_path) as store:
        store.mark(["f1", "f2"], "benign", rule_id={"f1": "rA", "f2": "rB"}, analyst="ana")
        store.mark(["f1"], "true-positive", analyst="ana")  # no rule id given this time
        current = store.current()
    assert (current["f1"].rule_id, current["f2"].rule_id) == ("rA", "rB")


def test_an_unknown_disposition_is_refused(store_path):
    with DispositionStore(store_path) as store:
        with pytest.raises(ValueError, match="unknown disposition"):
            store.mark(["f1"], "malicious")
        assert store.changes() == []


def test_text_that_is_not_valid_unicode_is_refused(store_path):
    with DispositionStore(store_path) as store:
        with pytest.raises(ValueError, match="not valid Unicode"):
            store.mark(["f1"], "benign", note="bad \udcff byte")


def test_the_analyst_defaults_to_the_login_name(store_path, monkeypatch):
    monkeypatch.setattr(dispositions.getpass, "getuser", lambda: "jdoe")
    with DispositionStore(store_path) as store:
        assert store.mark(["f1"], "benign")[0].analyst == "jdoe"


def test_the_analyst_has_a_fallback_when_the_login_name_is_unknown(store_path, monkeypatch):
    def no_user():
        raise OSError("no login name")
    monkeypatch.setattr(dispositions.getpass, "getuser", no_user)
    with DispositionStore(store_path) as store:
        analyst = store.mark(["f1"], "benign")[0].analyst
    assert analyst and analyst != "jdoe"


def test_the_store_is_sqlite_in_wal_mode_inside_the_case(store_path, case_dir):
    DispositionStore(store_path).close()
    con = sqlite3.connect(store_path)
    try:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        con.close()
    assert sorted(p.name for p in case_dir.iterdir()) == ["dispositions.sqlite", "dispositions.sqlite.lock"]


def test_a_missing_case_folder_is_a_clear_error(tmp_path):
    with pytest.raises(DispositionError, match="does not exist"):
        DispositionStore(tmp_path / "no-such-case" / "dispositions.sqlite")


def test_another_store_object_sees_marks_at_once(store_path):
    with DispositionStore(store_path) as first, DispositionStore(store_path) as second:
        before = second.last_change()
        first.mark(["f1"], "benign", analyst="ana")
        assert second.last_change() == before + 1
        assert second.current()["f1"].disposition == "benign"


@pytest.fixture(scope="module")
def shared_store_path(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("round-trip") / "dispositions.sqlite"


_example_numbers = itertools.count()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(note=st.text(), analyst=st.text(min_size=1).filter(str.strip),
       fid=st.text(min_size=1), disposition=st.sampled_from(DISPOSITIONS[1:]))
def test_any_unicode_text_round_trips_exactly(shared_store_path, note, analyst, fid, disposition):
    fid = f"{next(_example_numbers)}:{fid}"  # a new finding per example in the shared store
    with DispositionStore(shared_store_path) as store:
        store.mark([fid], disposition, note=note, analyst=analyst)
    with DispositionStore(shared_store_path) as store:
        mark = store.current()[fid]
        assert store.warnings == []
    assert (mark.note, mark.analyst, mark.disposition) == (note, analyst.strip(), disposition)


def test_temporary_files_abandoned_by_a_killed_process_are_cleaned_up(store_path, case_dir):
    DispositionStore(store_path).close()
    old = case_dir / ".dispositions.sqlite.4242.deadbeef.new"
    fresh = case_dir / ".dispositions.sqlite.4243.cafebabe.new"
    old.write_bytes(b"half a store")
    fresh.write_bytes(b"being built right now")
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    DispositionStore(store_path).close()
    assert not old.exists() and fresh.exists()
