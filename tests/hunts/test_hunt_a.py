"""Hunt A (Exchange Servers and Associated Security Alerts): one KQL behaviour per test."""
from __future__ import annotations

import json
from datetime import datetime

from tests.hunts.conftest import T0, add_alerts, add_requests, rows

SLUG = "exchange-alerts"


def entities(*items) -> str:
    return json.dumps(list(items))


def host(name=None, domain=None, **extra):
    item = {"$id": "2", "Type": "host", **extra}
    if name is not None:
        item["HostName"] = name
    if domain is not None:
        item["DnsDomain"] = domain
    return item


def server(con, computer="EXCH04.contoso.com", stem="/owa/auth/logon.aspx"):
    add_requests(con, {"Computer": computer, "csUriStem": stem})


def only_row(con):
    result = rows(con, SLUG)
    assert len(result) == 1, result
    return result[0]


def test_iis_fqdn_joins_entity_hostname_plus_dnsdomain(db):
    server(db, "EXCH04.contoso.com")
    add_alerts(db, {"Entities": entities(host("exch04", "contoso.com"))})
    assert only_row(db) == {"ExchangeServer": "exch04.contoso.com", "Alerts": 1,
                            "AlertTimes": [T0], "AlertNames": ["Suspicious web shell"]}


def test_short_iis_computer_never_matches_entity_with_dns_domain(db):
    server(db, "EXCH01")
    add_alerts(db, {"Entities": entities(host("exch01", "contoso.com"))})
    assert only_row(db)["Alerts"] is None


def test_entity_without_dns_domain_matches_short_computer(db):
    server(db, "EXCH01")
    add_alerts(db, {"Entities": entities(host("EXCH01"))})
    assert only_row(db)["Alerts"] == 1


def test_empty_dns_domain_counts_as_missing(db):
    server(db, "exch01")
    add_alerts(db, {"Entities": entities(host("exch01", ""))})
    assert only_row(db)["Alerts"] == 1


def test_dns_domain_without_hostname_gives_dot_domain(db):
    server(db, ".contoso.com", "/ews/exchange.asmx")
    add_alerts(db, {"Entities": entities(host(None, "contoso.com"))})
    assert only_row(db)["ExchangeServer"] == ".contoso.com"
    assert only_row(db)["Alerts"] == 1


def test_numeric_dns_domain_is_not_empty_and_prints_as_text(db):
    server(db, "exch01.5")
    add_alerts(db, {"Entities": entities(host("exch01", 5))})
    assert only_row(db)["Alerts"] == 1


def test_integral_real_prints_without_fraction_like_kql(db):
    server(db, "exch01.118")
    add_alerts(db, {"Entities": entities(host("exch01", 118.0))})
    assert only_row(db)["Alerts"] == 1


def test_empty_array_dns_domain_is_not_empty_and_prints_as_brackets(db):
    server(db, "exch01.[]")
    add_alerts(db, {"Entities": entities(host("exch01", []))})
    assert only_row(db)["Alerts"] == 1


def test_type_comparison_is_case_sensitive(db):
    server(db, "exch01")
    add_alerts(db, {"Entities": entities({"Type": "Host", "HostName": "exch01"})})
    assert only_row(db)["Alerts"] is None


def test_ref_items_have_no_type_and_are_not_resolved(db):
    server(db, "exch01")
    add_alerts(db, {"Entities": entities(host("other"), {"$ref": "2"})})
    assert only_row(db)["Alerts"] is None


def test_unmatched_server_has_nulls_not_zero_or_empty_lists(db):
    server(db, "EXCH09.contoso.com")
    row = only_row(db)
    assert row == {"ExchangeServer": "exch09.contoso.com", "Alerts": None,
                   "AlertTimes": None, "AlertNames": None}


def test_duplicate_alert_rows_repeat_in_lists_but_count_once(db):
    server(db, "exch01")
    later = datetime(2021, 3, 2, 9, 0, 0, 1234)
    add_alerts(db, {"Entities": entities(host("exch01")), "TimeGenerated": T0},
               {"Entities": entities(host("exch01")), "TimeGenerated": later})
    row = only_row(db)
    assert row["Alerts"] == 1
    assert row["AlertTimes"] == [T0, later]
    assert row["AlertNames"] == ["Suspicious web shell"] * 2


def test_alert_lists_are_in_time_order_and_pair_up(db):
    server(db, "exch01")
    t1, t2 = datetime(2021, 3, 2, 10), datetime(2021, 3, 2, 9)
    add_alerts(db, {"Entities": entities(host("exch01")), "TimeGenerated": t1,
                    "AlertName": "first inserted", "SystemAlertId": "a"},
               {"Entities": entities(host("exch01")), "TimeGenerated": t2,
                "AlertName": "earlier", "SystemAlertId": "b"})
    row = only_row(db)
    assert row["AlertTimes"] == [t2, t1]
    assert row["AlertNames"] == ["earlier", "first inserted"]


def test_empty_system_alert_id_is_counted_by_dcount(db):
    server(db, "exch01")
    add_alerts(db, {"Entities": entities(host("exch01")), "SystemAlertId": ""},
               {"Entities": entities(host("exch01")), "SystemAlertId": "x"})
    assert only_row(db)["Alerts"] == 2


def test_host_entity_past_128th_element_is_not_seen(db):
    server(db, "exch01")
    filler = [{"Type": "account", "Name": f"u{i}"} for i in range(128)]
    add_alerts(db, {"Entities": entities(*filler, host("exch01"))})
    assert only_row(db)["Alerts"] is None


def test_host_entity_at_128th_element_is_seen(db):
    server(db, "exch01")
    filler = [{"Type": "account", "Name": f"u{i}"} for i in range(127)]
    add_alerts(db, {"Entities": entities(*filler, host("exch01"))})
    assert only_row(db)["Alerts"] == 1


def test_limit_is_top_level_only(db):
    server(db, "exch01")
    nested = {"Type": "host", "HostName": "exch01", "Items": list(range(500))}
    add_alerts(db, {"Entities": entities(nested)})
    assert only_row(db)["Alerts"] == 1


def test_invalid_entities_json_gives_a_string_without_type(db):
    server(db, "exch01")
    add_alerts(db, {"Entities": '[{"Type":"host","HostName":"exch01"}'})
    assert only_row(db)["Alerts"] is None


def test_trailing_comma_is_not_json(db):
    server(db, "exch01")
    add_alerts(db, {"Entities": '[{"Type":"host","HostName":"exch01"},]'})
    assert only_row(db)["Alerts"] is None


def test_nan_is_not_json_but_nan_inside_a_string_is_fine(db):
    server(db, "nan")
    add_alerts(db, {"Entities": '[{"Type":"host","HostName":"NaN"}]'},
               {"Entities": '[{"Type":"host","HostName":"nan","X":NaN}]',
                "SystemAlertId": "bad"})
    assert only_row(db)["Alerts"] == 1


def test_empty_entities_is_null_and_dropped(db):
    server(db, "")  # an empty computer would join an entity whose name is "" ...
    add_alerts(db, {"Entities": ""})  # ... but "" parses to null, which has no Type
    assert only_row(db)["Alerts"] is None


def test_bag_shaped_entities_expand_to_single_key_bags(db):
    server(db, "exch01")
    add_alerts(db, {"Entities": json.dumps(host("exch01"))})
    # {"HostName": "exch01"} has no Type; {"Type": "host"} has no HostName.
    assert only_row(db)["Alerts"] is None


def test_bag_type_key_gives_empty_computer_that_joins_empty_iis_computer(db):
    server(db, "")
    add_alerts(db, {"Entities": json.dumps(host("exch01"))})
    assert only_row(db) == {"ExchangeServer": "", "Alerts": 1, "AlertTimes": [T0],
                            "AlertNames": ["Suspicious web shell"]}


def test_entity_with_neither_name_nor_domain_joins_empty_computer(db):
    server(db, "")
    add_alerts(db, {"Entities": entities({"Type": "host"})})
    assert only_row(db)["Alerts"] == 1


def test_unicode_escapes_in_entities_are_decoded(db):
    server(db, "exch01")
    add_alerts(db, {"Entities": '[{"Type":"ho\\u0073t","HostName":"\\u0065xch01"}]'})
    assert only_row(db)["Alerts"] == 1


def test_tolower_folds_non_ascii_letters_on_both_sides(db):
    server(db, "ÄRGER.contoso.com")
    add_alerts(db, {"Entities": entities(host("ärger", "CONTOSO.com"))})
    assert only_row(db)["ExchangeServer"] == "ärger.contoso.com"
    assert only_row(db)["Alerts"] == 1


def test_servers_are_distinct_lower_cased_computers(db):
    server(db, "EXCH01.contoso.com")
    server(db, "exch01.CONTOSO.com", "/ecp/healthcheck.htm")
    assert [r["ExchangeServer"] for r in rows(db, SLUG)] == ["exch01.contoso.com"]


def test_has_any_needs_term_boundary_after_alphanumeric_end(db):
    server(db, "exch01", "/ews/exchange.asmxfoo")
    server(db, "exch02", "/ecp/healthcheck.html")
    server(db, "exch03", "/owa/auth")
    assert rows(db, SLUG) == []


def test_any_provider_alerts_count(db):
    server(db, "exch01")
    add_alerts(db, {"Entities": entities(host("exch01")), "SystemAlertId": "mde"},
               {"Entities": entities(host("exch01")), "SystemAlertId": "asc"})
    assert only_row(db)["Alerts"] == 2


def test_null_alert_time_is_skipped_by_make_list(db):
    server(db, "exch01")
    add_alerts(db, {"Entities": entities(host("exch01")), "TimeGenerated": None})
    row = only_row(db)
    assert row["AlertTimes"] == [] and row["AlertNames"] == ["Suspicious web shell"]


def test_alert_time_keeps_microseconds(db):
    server(db, "exch01")
    fine = datetime(2021, 3, 2, 8, 1, 2, 123456)
    add_alerts(db, {"Entities": entities(host("exch01")), "TimeGenerated": fine})
    assert only_row(db)["AlertTimes"] == [fine]


def test_exchange_paths_parameter_replaces_the_three_paths(db):
    server(db, "exch01", "/mapi/nspi/")
    assert rows(db, SLUG) == []
    assert [r["ExchangeServer"] for r in rows(db, SLUG, exchange_paths=["/mapi/"])] == \
        ["exch01"]
