"""Cells come from the columns a hunt declares: what each `pick` shows, and how a findings
pane matches another hunt's findings."""
from __future__ import annotations

import datetime as dt

from engine.findings import Finding, HuntRun
from engine.presentation import ListColumn, Presentation
from tui.screens.hunt_view import fill_summary, histogram
from tui.screens.palette import jump_targets
from tui.screens.rows import FindingsIndex, cell_text

T1 = dt.datetime(2021, 3, 3, 9, 3, 10, 123456)
T0 = dt.datetime(2021, 3, 3, 2, 13, 5)


def test_value_shows_times_to_the_second():
    assert cell_text(T1, ListColumn("t", "T")) == "2021-03-03 09:03:10"


def test_first_and_last_pick_from_the_sorted_list_without_nulls():
    times = [T1, None, T0]
    assert cell_text(times, ListColumn("t", "T", pick="first")) == "2021-03-03 02:13:05"
    assert cell_text(times, ListColumn("t", "T", pick="last")) == "2021-03-03 09:03:10"


def test_count_counts_the_items_of_a_list():
    assert cell_text(["a", "b", None], ListColumn("x", "X", pick="count")) == "2"


def test_join_and_plain_lists_are_joined_with_commas():
    assert cell_text(["203.0.113.7", "198.51.100.1"], ListColumn("ip", "IP", pick="join")) \
        == "203.0.113.7, 198.51.100.1"
    assert cell_text(["a", "b"], ListColumn("x", "X")) == "a, b"


def test_empty_text_stands_for_null_missing_and_empty_values():
    column = ListColumn("Alerts", "Alerts", empty="none")
    assert [cell_text(v, column) for v in (None, "", [], 0)] == ["none", "none", "none", "0"]


def test_plus_as_space_reads_iis_user_agents():
    column = ListColumn("ua", "UA", plus_as_space=True)
    assert cell_text("Mozilla/5.0+(Windows+NT)", column) == "Mozilla/5.0 (Windows NT)"


def _run(rule_id: str, slug: str, rows: list[dict]) -> HuntRun:
    return HuntRun(rule_id, slug, slug, list(rows[0]),
                   [Finding(rule_id, f"{slug}-{i}", row) for i, row in enumerate(rows)])


def _findings_pane():
    from engine.presentation import Pane
    return Pane("files", "Files", "findings", (ListColumn("csUriStem", "Path"),),
                hunt="owa-export", match={"Computer": "ExchangeServer"})


def test_a_findings_pane_matches_the_other_hunt_ascii_case_insensitively():
    other = _run("b", "owa-export", [{"Computer": "EXCH01.contoso.com", "csUriStem": "/x"},
                                     {"Computer": "EXCH02.contoso.com", "csUriStem": "/y"}])
    index = FindingsIndex.build([other], _findings_pane())
    found = index.matching({"ExchangeServer": "exch01.contoso.com"})
    assert [f.row["csUriStem"] for f in found] == ["/x"]


def test_a_findings_pane_does_not_fold_non_ascii_letters():
    other = _run("b", "owa-export", [{"Computer": "SÉRVEUR", "csUriStem": "/x"}])
    index = FindingsIndex.build([other], _findings_pane())
    assert index.matching({"ExchangeServer": "sérveur"}) == []


def test_an_empty_value_matches_no_findings():
    other = _run("b", "owa-export", [{"Computer": "", "csUriStem": "/x"}])
    index = FindingsIndex.build([other], _findings_pane())
    assert index.matching({"ExchangeServer": ""}) == []


def test_a_summary_template_is_filled_from_the_pane_query_and_the_finding():
    text = fill_summary("{cIP}: {requests:,} requests, {first_seen} → {last_seen}",
                        {"cIP": "ignored"}, {"cIP": "203.0.113.7", "requests": 1234,
                                             "first_seen": T0, "last_seen": T1})
    assert text == "203.0.113.7: 1,234 requests, 2021-03-03 02:13:05 → 2021-03-03 09:03:10"


def test_a_summary_template_that_does_not_fit_the_values_shows_nothing():
    assert fill_summary("{missing} {requests:,}", {"requests": None}) == ""


def test_the_histogram_counts_rows_per_slice_of_their_time_range():
    counts = histogram([T0, T0, T1, None], buckets=4)
    assert counts == [2.0, 0.0, 0.0, 1.0]


def test_the_palette_offers_a_server_once_whatever_its_case_in_each_hunt():
    class Data:  # the two seed hunts' rows as they name one server
        def __init__(self, runs):
            self.runs = runs

        def ordered_runs(self):
            return self.runs

    a = _run("a", "exchange-alerts", [{"ExchangeServer": "exch04.contoso.com"}])
    b = _run("b", "owa-export", [{"Computer": "EXCH04.contoso.com", "csUriStem": "/x.zip"}])
    a.presentation = Presentation("A", "servers", (), roles={"server": "ExchangeServer"})
    b.presentation = Presentation("B", "files", (), roles={"server": "Computer",
                                                          "file": "csUriStem"})
    targets = [(t.kind, t.label, t.view) for t in jump_targets(Data([a, b])) if t.kind != "hunt"]
    assert targets == [("server", "exch04.contoso.com", "hunt-exchange-alerts"),
                       ("file", "/x.zip on EXCH04.contoso.com", "hunt-owa-export")]
