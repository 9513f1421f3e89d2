"""The `/` filter: which rows of a list match what the analyst typed, and where.

A query is split into terms on whitespace; a row matches when every term matches the text of
its visible columns (as displayed, escapes included). A term matches exactly (case-insensitive
substring) when it can; a term of five or more characters that appears nowhere exactly falls
back to rapidfuzz against the words of the rows (typos: ``bakcup`` finds ``backup1.zip``).
Rows keep their order: a filter narrows a list, it does not re-rank it.

Why the fuzzy fallback looks at distinct words, not rows: rapidfuzz's ``partial_ratio`` over
100,000 rows of ~100 characters cost 110-320 ms on the 2-core machine, too slow for a
keystroke. The rows of a findings list share most of their words (servers, dates, path
pieces), so 100,000 rows had ~75,000 distinct words; the bit-parallel ``LCSseq`` prunes those
(a term with one typo keeps a common subsequence of ``len - 1``) and ``partial_ratio`` judges
the survivors: ~40 ms on the same busy machine. The word index is built once, off the UI
thread when the case loads.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from rapidfuzz import fuzz, process
from rapidfuzz.distance import LCSseq

FUZZY_MIN_TERM = 5  # shorter terms match by substring only: fuzzy on 3 letters matches everything
FUZZY_CUTOFF = 80.0  # partial_ratio score a fuzzy term needs


@dataclass(frozen=True)
class Query:
    terms: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> "Query":
        return cls(tuple(t.lower() for t in text.split()))

    def __bool__(self) -> bool:
        return bool(self.terms)

    def narrows(self, previous: "Query") -> bool:
        """Every row matching this query exactly also matches ``previous`` exactly: the
        analyst typed on (each old term grew, or a term was added)."""
        if not previous or len(self.terms) < len(previous.terms):
            return False
        return all(old in new for old, new in zip(previous.terms, self.terms))


_WORD = re.compile(r"[^0-9a-z]+")


class SearchIndex:
    """The lower-cased text of each row, and (built on first need) which rows hold each word."""

    def __init__(self, haystacks: list[str]) -> None:
        self.haystacks = haystacks
        self._postings: dict[str, list[int]] | None = None
        self._words: list[str] = []

    def build_words(self) -> "SearchIndex":
        """Index the words now (call from a worker to keep the first typo off the UI thread)."""
        postings: dict[str, list[int]] = {}
        for i, text in enumerate(self.haystacks):
            for word in set(_WORD.split(text)):
                if word:
                    postings.setdefault(word, []).append(i)
        self._postings, self._words = postings, list(postings)
        return self

    def update(self, i: int, text: str) -> None:
        """Row ``i`` now reads ``text`` (a mark changed its disposition cell)."""
        self.haystacks[i] = text
        if self._postings is not None:
            for word in set(_WORD.split(text)):
                if word:
                    rows = self._postings.setdefault(word, [])
                    if not rows:
                        self._words.append(word)
                    rows.append(i)

    def fuzzy_rows(self, term: str) -> set[int]:
        """Rows holding a word within rapidfuzz reach of ``term``."""
        if self._postings is None:
            self.build_words()
        near = process.extract(term, self._words, scorer=LCSseq.similarity, processor=None,
                               score_cutoff=len(term) - 1, limit=None)
        survivors = [self._words[i] for _, _, i in near]
        judged = process.extract(term, survivors, scorer=fuzz.partial_ratio, processor=None,
                                 score_cutoff=FUZZY_CUTOFF, limit=None)
        rows: set[int] = set()
        for word, _, _ in judged:
            rows.update(self._postings[word])
        return rows


def filter_rows(index: SearchIndex, query: Query, within: list[int] | None = None,
                used_fuzzy: list[bool] | None = None) -> list[int]:
    """Indices (ascending) of the rows matching every term.

    ``within``: only look at these rows (the previous result when the query narrows it and
    that result was exact). ``used_fuzzy`` gets ``True`` appended when a term fell back to
    fuzzy matching, so the caller knows the result cannot seed the next keystroke."""
    haystacks = index.haystacks
    candidates: list[int] = list(range(len(haystacks))) if within is None else list(within)
    for term in query.terms:
        exact = [i for i in candidates if term in haystacks[i]]
        if exact or len(term) < FUZZY_MIN_TERM:
            candidates = exact
        else:
            if used_fuzzy is not None:
                used_fuzzy.append(True)
            fuzzy = index.fuzzy_rows(term)
            # A stale word of an updated row may point at a row that no longer holds it:
            # keep only rows whose text still has something close (cheap: few rows).
            candidates = [i for i in candidates if i in fuzzy
                          and fuzz.partial_ratio(term, haystacks[i]) >= FUZZY_CUTOFF]
        if not candidates:
            break
    return candidates


def haystack(cells: Sequence[str]) -> str:
    """The searchable text of a row: its displayed cells, lower-cased, joined by a separator
    no term can span (terms never contain whitespace)."""
    return "  ".join(cells).lower()


def match_spans(cell: str, query: Query) -> list[tuple[int, int]]:
    """Character ranges of ``cell`` (as displayed) to highlight for ``query``."""
    lowered = cell.lower()
    spans: list[tuple[int, int]] = []
    for term in query.terms:
        start = lowered.find(term)
        found = False
        while start != -1:
            found = True
            spans.append((start, start + len(term)))
            start = lowered.find(term, start + len(term))
        if not found and len(term) >= FUZZY_MIN_TERM and lowered:
            alignment = fuzz.partial_ratio_alignment(term, lowered, score_cutoff=FUZZY_CUTOFF)
            if alignment is not None and alignment.dest_end > alignment.dest_start:
                spans.append((alignment.dest_start, alignment.dest_end))
    return spans
