"""The `/` filter: which rows match and which characters light up."""
from __future__ import annotations

from tui.search import Query, SearchIndex, filter_rows, haystack, match_spans

ROWS = SearchIndex([
    haystack(["/owa/auth/backup.zip", "EXCH01.contoso.com", "203.0.113.77"]),
    haystack(["/owa/auth/logo.png", "EXCH02.contoso.com", "198.51.100.4"]),
    haystack(["/owa/auth/x.js", "EXCH01.contoso.com", "192.0.2.81"]),
])


def test_empty_query_matches_nothing_special():
    assert not Query.parse("   ")


def test_a_substring_matches_case_insensitively():
    assert filter_rows(ROWS, Query.parse("BACKUP")) == [0]


def test_every_term_must_match():
    assert filter_rows(ROWS, Query.parse("exch01 x.js")) == [2]


def test_terms_may_match_different_columns():
    assert filter_rows(ROWS, Query.parse("logo 198.51")) == [1]


def test_a_long_term_with_a_typo_still_matches():
    assert filter_rows(ROWS, Query.parse("bakcup")) == [0]


def test_a_short_term_does_not_match_fuzzily():
    assert filter_rows(ROWS, Query.parse("zzp")) == []


def test_a_typo_in_a_word_inside_a_longer_word_still_matches():
    index = SearchIndex([haystack(["/owa/auth/backup1234.zip"]), haystack(["/owa/x.png"])])
    assert filter_rows(index, Query.parse("bakcup")) == [0]


def test_an_updated_row_is_found_by_its_new_text():
    index = SearchIndex([haystack(["a.png", "unreviewed"]), haystack(["b.png", "unreviewed"])])
    index.build_words()
    index.update(1, haystack(["b.png", "follow-up"]))
    assert filter_rows(index, Query.parse("follow")) == [1]
    assert filter_rows(index, Query.parse("folow")) == [1]


def test_rows_keep_their_order():
    assert filter_rows(ROWS, Query.parse("contoso")) == [0, 1, 2]


def test_match_spans_mark_every_occurrence():
    assert match_spans("a.png/b.png", Query.parse("png")) == [(2, 5), (8, 11)]


def test_match_spans_mark_the_fuzzy_window():
    spans = match_spans("/owa/auth/backup.zip", Query.parse("bakcup"))
    assert spans and "back" in "/owa/auth/backup.zip"[spans[0][0]:spans[0][1]]


def test_a_longer_query_narrows_the_previous_one():
    assert Query.parse("backup.z").narrows(Query.parse("backup"))
    assert Query.parse("exch01 zip").narrows(Query.parse("exch01"))


def test_a_different_query_does_not_narrow():
    assert not Query.parse("backu").narrows(Query.parse("backup"))
    assert not Query.parse("zip").narrows(Query.parse("exch01 zip"))


def test_filtering_within_a_previous_result_gives_the_same_rows():
    first = filter_rows(ROWS, Query.parse("owa"))
    assert filter_rows(ROWS, Query.parse("owa exch01"), within=first) == \
        filter_rows(ROWS, Query.parse("owa exch01"))


def test_the_caller_learns_when_a_term_fell_back_to_fuzzy():
    used: list[bool] = []
    filter_rows(ROWS, Query.parse("bakcup"), used_fuzzy=used)
    assert used == [True]
