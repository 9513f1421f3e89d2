"""A reader's failure told as what happened to the evidence and where."""
from __future__ import annotations

from engine.evidence.read_errors import describe_read_error

# What DuckDB raised when pyarrow failed inside the stream a Parquet export is read through:
# the traceback it carries names a line of exhunt's own source.
_STREAM_FAILURE = (
    "Invalid Input Error: reading the stream registered as 'export_arrow' failed: "
    "IOError: Couldn't deserialize thrift: don't know what type: \x0f\n"
    'Traceback (most recent call last):\n  File "/opt/exhunt/engine/evidence/exports.py", '
    "line 347, in batches\n")


def test_a_line_of_our_own_source_in_a_traceback_is_not_reported_as_a_line_of_the_file() -> None:
    reason, _ = describe_read_error(RuntimeError(_STREAM_FAILURE))
    assert "line" not in reason


def test_a_parquet_page_header_that_cannot_be_decoded_is_a_damaged_parquet_file() -> None:
    reason, detail = describe_read_error(RuntimeError(_STREAM_FAILURE))
    assert reason == "could not be read: not a readable Parquet file (cut or damaged)"
    assert detail.startswith("Invalid Input Error")
