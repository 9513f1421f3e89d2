"""Where a raw W3C file's rows land in the case: W3CIISLog/kind=rows/host=<h>/day=<d>/,
whichever way the ingest wrote them (one file moved into place, or partitioned)."""
from __future__ import annotations

from pathlib import Path

from engine.case import Case, IngestOptions
from tests.evidence.helpers import FIELDS, IIS_HEAD, ingest, only_file, row, rows, write


def _folders(case_dir: Path) -> list[str]:
    return sorted(str(p.parent.relative_to(p.parents[3]))
                  for p in case_dir.glob("data/*/W3CIISLog/kind=*/host=*/day=*/*.parquet"))


def test_rows_of_one_server_and_one_day_are_in_that_servers_and_days_folder(tmp_path):
    ingest(write(tmp_path / "ev/EXCH01/u_ex1.log",
                 IIS_HEAD + FIELDS + "\r\n" + row() + "\r\n" + row(stem="/b") + "\r\n"),
           tmp_path / "case")
    assert _folders(tmp_path / "case") == ["kind=rows/host=exch01/day=2024-03-01"]
    assert len(rows(tmp_path / "case")) == 2


def test_a_file_whose_rows_span_two_days_has_one_folder_per_day(tmp_path):
    late = row(stem="/late").replace("2024-03-01", "2024-03-02")
    ingest(write(tmp_path / "ev/EXCH01/u_ex1.log",
                 IIS_HEAD + FIELDS + "\r\n" + row() + "\r\n" + late + "\r\n"), tmp_path / "case")
    assert _folders(tmp_path / "case") == ["kind=rows/host=exch01/day=2024-03-01",
                                           "kind=rows/host=exch01/day=2024-03-02"]
    assert [r["csUriStem"] for r in rows(tmp_path / "case")] == ["/owa/auth/logon.aspx", "/late"]


def test_rows_naming_two_computers_have_one_folder_per_computer(tmp_path):
    fields = FIELDS + " s-computername"
    text = (IIS_HEAD + fields + "\r\n" + row() + " EXCH01\r\n" + row(stem="/b") + " EXCH02\r\n")
    ingest(write(tmp_path / "ev/logs/u_ex1.log", text), tmp_path / "case")
    assert _folders(tmp_path / "case") == ["kind=rows/host=exch01/day=2024-03-01",
                                           "kind=rows/host=exch02/day=2024-03-01"]
    assert [r["Computer"] for r in rows(tmp_path / "case")] == ["EXCH01", "EXCH02"]


def test_a_single_computer_named_by_s_computername_gets_its_sanitised_folder(tmp_path):
    fields = FIELDS + " s-computername"
    text = IIS_HEAD + fields + "\r\n" + row() + " Exch-01/A\r\n"
    ingest(write(tmp_path / "ev/logs/u_ex1.log", text), tmp_path / "case",
           IngestOptions(default_domain="contoso.com"))
    assert _folders(tmp_path / "case") == ["kind=rows/host=exch-01_a.contoso.com/day=2024-03-01"]
    assert [r["Computer"] for r in rows(tmp_path / "case")] == ["Exch-01/A.contoso.com"]


def test_rows_without_a_time_keep_the_same_rows_as_the_partitioned_write(tmp_path):
    text = IIS_HEAD + FIELDS + "\r\n" + row() + "\r\n" + row(stem="/b").replace(
        "2024-03-01 08:00:01", "2024-13-45 08:00:01") + "\r\n"
    report = ingest(write(tmp_path / "ev/EXCH01/u_ex1.log", text), tmp_path / "case")
    assert only_file(report).rows == 2
    got = rows(tmp_path / "case")
    assert [(r["csUriStem"], r["TimeGenerated"] is None) for r in got] == [
        ("/owa/auth/logon.aspx", False), ("/b", True)]


def test_a_file_with_a_bad_line_keeps_its_rows_line_numbers_and_the_bad_lines_text(tmp_path):
    text = (IIS_HEAD + FIELDS + "\r\n" + row() + "\r\n" + "2024-03-01 08:00:02 cut\r\n"
            + row(stem="/b") + "\r\n")
    path = write(tmp_path / "ev/EXCH01/u_ex1.log", text)
    report = ingest(path, tmp_path / "case")
    assert (only_file(report).rows, only_file(report).bad_lines) == (2, 1)
    assert [(r["csUriStem"], r["_line"]) for r in rows(tmp_path / "case")] == [
        ("/owa/auth/logon.aspx", 5), ("/b", 7)]
    assert [(b.line, b.text) for b in Case(tmp_path / "case").bad_lines()] == [
        (6, "2024-03-01 08:00:02 cut")]
    assert _folders(tmp_path / "case") == ["kind=rows/host=exch01/day=2024-03-01"]


def test_a_line_of_blanks_only_is_neither_a_row_nor_a_bad_line(tmp_path):
    text = IIS_HEAD + FIELDS + "\r\n" + row() + "\r\n   \r\n" + row(stem="/b") + "\r\n"
    report = ingest(write(tmp_path / "ev/EXCH01/u_ex1.log", text), tmp_path / "case")
    assert (only_file(report).rows, only_file(report).bad_lines) == (2, 0)
    assert [r["_line"] for r in rows(tmp_path / "case")] == [5, 7]


def test_a_reader_during_an_ingest_sees_the_previous_case_until_the_manifest_is_swapped(
        tmp_path):
    ev = tmp_path / "ev"
    write(ev / "EXCH01/u_ex1.log", IIS_HEAD + FIELDS + "\r\n" + row() + "\r\n")
    ingest(ev, tmp_path / "case")
    write(ev / "EXCH02/u_ex1.log", IIS_HEAD + FIELDS + "\r\n" + row() + "\r\n" + row() + "\r\n")
    seen = []

    def read_meanwhile(progress):
        if progress.current is not None:  # a file is done, the manifest not yet replaced
            seen.append(len(rows(tmp_path / "case")))

    Case(tmp_path / "case").ingest([ev], progress=read_meanwhile)
    assert seen and set(seen) == {1}
    assert len(rows(tmp_path / "case")) == 3


def test_an_iis_file_with_hundreds_of_header_blocks_maps_each_row_to_its_layout(tmp_path):
    soft = "#Software: Microsoft Internet Information Services 10.0\r\n"
    blocks = []
    for i in range(150):
        if i % 2:
            blocks.append(soft + "#Fields: date time c-ip cs-uri-stem\r\n"
                          f"2024-03-01 08:00:00 192.0.2.1 /odd{i}\r\n")
        else:
            blocks.append(soft + "#Fields: date time cs-uri-stem c-ip\r\n"
                          f"2024-03-01 08:00:00 /even{i} 192.0.2.2\r\n")
    report = ingest(write(tmp_path / "ev/EXCH01/u.log", "".join(blocks)), tmp_path / "case")
    assert (only_file(report).rows, only_file(report).bad_lines) == (150, 0)
    got = rows(tmp_path / "case")
    assert all(r["cIP"] == ("192.0.2.1" if "odd" in r["csUriStem"] else "192.0.2.2") for r in got)
    assert [r["_line"] for r in got][:3] == [3, 6, 9]


def _read_back(case_dir: Path) -> dict[str, tuple[int, str | None]]:
    """Each file's rows and Computers as the case's Parquet files hold them."""
    import duckdb

    manifest = Case(case_dir).read_manifest()
    out = {}
    for path, entry in manifest["files"].items():
        files = [str(p) for p in (case_dir / entry["data"]).glob(
            "W3CIISLog/kind=rows/host=*/day=*/*.parquet")] if entry.get("data") else []
        if not files:
            out[Path(path).name] = (0, None)
            continue
        con = duckdb.connect()
        count = con.execute("SELECT count(*) FROM read_parquet($f)", {"f": files}).fetchone()[0]
        names = [r[0] for r in con.execute(
            'SELECT DISTINCT "Computer" FROM read_parquet($f) ORDER BY 1', {"f": files}).fetchall()]
        out[Path(path).name] = (count, ", ".join(names) or None)
    return out


def test_the_counts_and_computers_a_write_reports_are_those_its_files_hold(tmp_path):
    """The single-file write takes rows and Computers from COPY's own statistics instead of
    reading its file back: they must be what a read-back gives, whichever way it went."""
    scn = FIELDS + " s-computername"
    late = row(stem="/late").replace("2024-03-01", "2024-03-02")
    odd_year = row(stem="/odd").replace("2024-03-01", "0999-03-01")
    texts = {
        "one.log": IIS_HEAD + FIELDS + "\r\n" + row() + "\r\n" + row(stem="/b") + "\r\n",
        "two-days.log": IIS_HEAD + FIELDS + "\r\n" + row() + "\r\n" + late + "\r\n",
        "two-hosts.log": IIS_HEAD + scn + "\r\n" + row() + " EXCH01\r\n" + row() + " EXCH02\r\n",
        "one-host.log": IIS_HEAD + scn + "\r\n" + row() + " EXCH09\r\n" + row() + " EXCH09\r\n",
        "no-host.log": IIS_HEAD + scn + "\r\n" + row() + " -\r\n" + row() + " EXCH03\r\n",
        "long-name.log": IIS_HEAD + scn + "\r\n" + row() + " " + "X" * 300 + "\r\n",
        "untimed.log": IIS_HEAD + FIELDS + "\r\n" + row().replace("2024-03-01", "2024-13-45") + "\r\n",
        "odd-year.log": IIS_HEAD + FIELDS + "\r\n" + odd_year + "\r\n",
        "bad-line.log": IIS_HEAD + FIELDS + "\r\n" + row() + "\r\nshort line\r\n",
        "head-only.log": IIS_HEAD + FIELDS + "\r\n",
    }
    for name, text in texts.items():
        write(tmp_path / "ev/EXCH01" / name, text)
    report = ingest(tmp_path / "ev", tmp_path / "case")
    reported = {Path(f.path).name: (f.rows, f.computer if f.rows else None) for f in report.files}
    assert reported == _read_back(tmp_path / "case")
    assert reported["two-hosts.log"] == (2, "EXCH01, EXCH02")
    assert reported["one.log"] == (2, "EXCH01")


def test_statistics_that_do_not_say_it_exactly_are_not_used():
    from engine.evidence.w3c import _summary_from_stats

    def stats(time_min="2024-03-01 08:00:01", exact="true", name_max="EXCH01"):
        times = {"min": time_min, "max": "2024-03-01 09:00:00", "min_is_exact": "true",
                 "max_is_exact": "true", "null_count": "0"}
        names = {"min": "EXCH01", "max": name_max, "min_is_exact": "true",
                 "max_is_exact": exact, "null_count": "0"}
        return [("f", 2, 0, 0, {'"TimeGenerated"': times, '"Computer"': names})]

    from datetime import date
    day = date(2024, 3, 1)
    assert _summary_from_stats(stats()) == (day, day, 0, "EXCH01", "EXCH01", 0)
    assert _summary_from_stats(stats(exact="false")) is None
    assert _summary_from_stats(stats(time_min="-0001-03-01 08:00:01")) is None
    assert _summary_from_stats(stats(time_min="10000-03-01 08:00:01")) is None
    assert _summary_from_stats([]) is None
    assert _summary_from_stats(stats() * 2) is None
    no_min = stats()
    del no_min[0][4]['"Computer"']["min"]
    assert _summary_from_stats(no_min) is None


def _parquet_facts(con, path: Path) -> tuple:
    """What a reader sees of a Parquet file: its schema, each column chunk's statistics and
    value count, and its rows."""
    schema = con.execute(
        "SELECT name, type, type_length, repetition_type, num_children, converted_type, "
        "scale, precision, field_id, logical_type FROM parquet_schema($f)", {"f": str(path)}
    ).fetchall()
    stats = con.execute(
        "SELECT row_group_id, path_in_schema, type, stats_min, stats_max, stats_null_count, "
        "num_values FROM parquet_metadata($f) ORDER BY ALL", {"f": str(path)}).fetchall()
    data = con.execute("SELECT * FROM read_parquet($f) ORDER BY _line", {"f": str(path)}).fetchall()
    return schema[1:], stats, data


def test_one_value_columns_written_as_enums_give_the_same_files(tmp_path, monkeypatch):
    """Columns that hold one value for a whole file are written from a one-value ENUM (a
    cheaper write): schema, statistics and rows must be those of the plain write."""
    import duckdb
    import pyarrow.parquet as pq

    from engine.evidence import w3c

    scn = FIELDS + " s-computername"
    write(tmp_path / "ev/EXCH01/u_ex1.log", IIS_HEAD + FIELDS + "\r\n" + row() + "\r\n")
    write(tmp_path / "ev/EXCH02/u_ex1.log",
          IIS_HEAD + scn + "\r\n" + row() + " A\r\n" + row() + " B\r\nbad\r\n")
    write(tmp_path / "ev/EXCH03/u_ex1.log",  # a quoting writer: the partitioned write
          "#Software: IIS Advanced Logging\r\n" + FIELDS + "\r\n" + row() + "\r\n")
    options = IngestOptions(tenant_id="t-1")
    ingest(tmp_path / "ev", tmp_path / "enum", options)
    monkeypatch.setattr(w3c._Sql, "constant", lambda self, expr, enum, value: expr)
    ingest(tmp_path / "ev", tmp_path / "plain", options)

    def files(case: str) -> list[Path]:
        return sorted((tmp_path / case).glob("data/*/W3CIISLog/kind=rows/*/*/*.parquet"),
                      key=lambda p: p.parts[-3:])

    con = duckdb.connect()
    assert len(files("enum")) == len(files("plain")) == 4
    for enum, plain in zip(files("enum"), files("plain")):
        assert enum.parts[-3:] == plain.parts[-3:]
        assert _parquet_facts(con, enum) == _parquet_facts(con, plain)
        assert pq.read_schema(enum) == pq.read_schema(plain)


def test_files_read_side_by_side_keep_their_own_file_values(tmp_path, monkeypatch):
    monkeypatch.setenv("EXHUNT_INGEST_WORKERS", "2")
    for n in range(6):
        write(tmp_path / f"ev/EXCH0{n}/u_ex{n}.log",
              IIS_HEAD + FIELDS + "\r\n" + "".join(row() + "\r\n" for _ in range(50)))
    report = ingest(tmp_path / "ev", tmp_path / "case", IngestOptions(tenant_id="t-9"))
    got = {(r["FileUri"], r["Computer"], r["TenantId"], r["SourceSystem"], r["Type"],
            r["csHost"]) for r in rows(tmp_path / "case")}
    assert got == {(f.path, f.computer, "t-9", "OpsManager", "W3CIISLog", "")
                   for f in report.files}
    assert {Path(p).parent.name for p, *_ in got} == {f"EXCH0{n}" for n in range(6)}


def test_a_file_with_bad_lines_over_two_days_is_written_as_the_partitioned_write_writes_it(
        tmp_path, monkeypatch):
    from engine.evidence import w3c

    late = row(stem="/late").replace("2024-03-01", "2024-03-02")
    text = (IIS_HEAD + FIELDS + "\r\n" + row() + "\r\ncut here\r\n" + late + "\r\n"
            + "2024-03-02 08:00:09 too few fields\r\n" + row(stem="/b") + "\r\n   \r\n")
    path = write(tmp_path / "ev/EXCH01/u_ex1.log", text)

    def outcome(case_dir: Path):
        report = only_file(ingest(path, case_dir))
        return ((report.rows, report.bad_lines), _folders(case_dir),
                [{k: v for k, v in r.items() if k != "_file_id"} for r in rows(case_dir)],
                [(b.line, b.text) for b in Case(case_dir).bad_lines()])

    single = outcome(tmp_path / "single")
    monkeypatch.setattr(w3c, "_copy_plain", lambda *args: None)  # the partitioned write
    assert single == outcome(tmp_path / "partitioned")
    assert single[0] == (3, 2)
