"""Reading the keys of a JSON export's records as a stream: what discovery needs when the
first record does not end inside its head."""
from __future__ import annotations

import json

from hypothesis import given, strategies as st

from engine.evidence.json_keys import MAX_KEY_BYTES, record_keys

_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=20)
_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4)
                       | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
_records = st.lists(st.dictionaries(st.text(max_size=12), _values, max_size=6), min_size=1,
                    max_size=4)


def _pieces(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


@given(_records, st.integers(1, 64), st.booleans(), st.booleans())
def test_keys_of_every_record_come_out_in_order_however_the_bytes_are_cut(
        records: list[dict], size: int, array: bool, ascii_only: bool) -> None:
    texts = [json.dumps(r, ensure_ascii=ascii_only) for r in records]
    data = ("[" + ",\n".join(texts) + "]" if array else "\n".join(texts) + "\n").encode()
    assert list(record_keys(_pieces(data, size))) == [list(r) for r in records]


def test_a_record_cut_off_gives_the_keys_it_showed() -> None:
    assert list(record_keys([b'{"cIP": "1.2.3.4", "csUriStem": "/owa/' + b"A" * 1000])) == [
        ["cIP", "csUriStem"]]


def test_a_long_value_is_stepped_over_and_the_keys_after_it_are_read() -> None:
    pieces = [b'{"Entities": "', *([b"x" * 65536] * 64), b'", "SystemAlertId": "a1"}\n']
    assert next(record_keys(pieces)) == ["Entities", "SystemAlertId"]


def test_a_key_longer_than_the_key_limit_is_not_kept() -> None:
    long_key = "k" * (MAX_KEY_BYTES + 1)
    assert next(record_keys([json.dumps({long_key: 1, "cIP": 2}).encode()])) == ["cIP"]


def test_text_before_the_first_record_yields_nothing() -> None:
    assert list(record_keys([b'"just a string", {"a": 1}'])) == []
