"""Small helpers for the evidence tests: write a fixture, ingest it, look at the rows."""
from __future__ import annotations

from pathlib import Path

from engine.case import Case, FileReport, IngestOptions, IngestReport

IIS_HEAD = (
    "#Software: Microsoft Internet Information Services 10.0\r\n"
    "#Version: 1.0\r\n"
    "#Date: 2024-03-01 00:00:00\r\n"
)
FIELDS = ("#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username "
          "c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken")


def row(stem: str = "/owa/auth/logon.aspx", query: str = "-", ip: str = "203.0.113.7",
        ua: str = "Mozilla/5.0+(Windows)", time: str = "08:00:01") -> str:
    return f"2024-03-01 {time} 10.0.0.5 GET {stem} {query} 443 - {ip} {ua} - 200 0 0 15"


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    return path


def ingest(evidence: Path | list[Path], case_dir: Path,
           options: IngestOptions | None = None) -> IngestReport:
    paths = evidence if isinstance(evidence, list) else [evidence]
    return Case(case_dir).ingest(paths, options or IngestOptions())


def only_file(report: IngestReport) -> FileReport:
    assert len(report.files) == 1, report.files
    return report.files[0]


def rows(case_dir: Path, sql: str = 'SELECT * FROM "W3CIISLog" ORDER BY _line',
         params: list | None = None) -> list[dict]:
    con = Case(case_dir).connect()
    cur = con.execute(sql, params or [])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]
