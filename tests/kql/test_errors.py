"""What exhunt cannot run faithfully is a KqlError naming the construct and its position,
never a wrong answer."""
from __future__ import annotations

import pytest

from engine.kql import KqlError, compile_kql

# (query, text the message must contain, line, column)
ERRORS = [
    ("DeviceProcessEvents | take 1", "'DeviceProcessEvents' does not exist", 1, 1),
    ("W3CIISLog | lookup (SecurityAlert) on x", "tabular operator 'lookup' is not supported", 1, 13),
    ("W3CIISLog\n| where foo == 1", "unknown column or name 'foo'", 2, 9),
    ("W3CIISLog | where csUriStem == 1", "cannot compare string with long", 1, 29),
    ("W3CIISLog | extend x = 1 + \"a\"", "cannot apply '+' to long and string", 1, 26),
    ("W3CIISLog | extend x = percentile(sPort, 50)", "aggregation function percentile()", 1, 24),
    ("W3CIISLog | summarize percentile(sPort, 50)", "percentile() is not supported", 1, 23),
    ("W3CIISLog | extend x = base64_decode_tostring(cIP)", "base64_decode_tostring() is not supported", 1, 24),
    ("W3CIISLog | where csUriStem like 'x'", "operator 'like' is not supported", 1, 29),
    ("W3CIISLog | where x = 1", "'=' assigns; compare with '=='", 1, 21),
    ("W3CIISLog | where sPort", "where needs a bool predicate", 1, 13),
    ("W3CIISLog | join kind=bogus (SecurityAlert) on TenantId", "join kind=bogus is not supported", 1, 13),
    ("W3CIISLog | join (SecurityAlert) on TimeGenerated, $left.sPort == $right.Entities",
     "join key sPort is int on the left but string on the right", 1, 52),
    ("W3CIISLog | union NoSuchTable", "'NoSuchTable' does not exist", 1, 19),
    ("W3CIISLog | mv-expand with_itemindex=i csUriStem", "with_itemindex= is not supported", 1, 23),
    ("W3CIISLog | parse kind=regex cIP with x", "parse kind=regex is not supported", 1, 13),
    ("W3CIISLog | where cIP in (W3CIISLog | project cIP)", "tabular expression is not supported", 1, 27),
    ("SecurityAlert | extend x = parse_json(Entities)[AlertName]", "only constant indexes", 1, 48),
    ("W3CIISLog | take sPort", "take needs a constant integer row count", 1, 18),
    ("W3CIISLog | where csUriStem == 'x", "unterminated string literal", 1, 32),
    ("W3CIISLog | extend x = 5q", "unknown number suffix 'q'", 1, 24),
    ("SecurityAlert | summarize make_list(parse_json(Entities))", "make_list() of a dynamic value", 1, 27),
    ("W3CIISLog | extend x = tostring()", "tostring() takes 1 arguments", 1, 24),
    ("W3CIISLog | project-away nope", "unknown column 'nope'", 1, 26),
    ("let x = 1;", "no tabular expression", 1, 1),
    ("W3CIISLog | where TimeGenerated > \"2021-01-01\"", "cannot compare datetime with string", 1, 33),
]


@pytest.mark.parametrize("query, message, line, column", ERRORS, ids=[e[1] for e in ERRORS])
def test_unsupported_or_wrong_query_is_a_positioned_error(query, message, line, column):
    with pytest.raises(KqlError) as info:
        compile_kql(query)
    err = info.value
    assert message in err.message
    assert (err.line, err.column) == (line, column)
    assert f"line {line}, column {column}" in str(err)
