"""The built-in demo case: a deterministic, realistic evidence folder from a compromised estate.

``write_demo(dest)`` writes the same bytes on every run (seeded generators, fixed dates,
gzip without a timestamp, no wall clock). The story: Contoso runs four Exchange 2016 servers
behind a load balancer and an intranet web server. Between 1 and 3 March 2021 (UTC) the
estate serves ordinary traffic (Outlook over MAPI/HTTP, ActiveSync phones, EWS, Autodiscover,
OWA browsers and their static resources, ECP admins, health checks, internet scanners) while
an actor exploits ProxyLogon on EXCH01, drops a web shell and pulls an exported mailbox;
others spray passwords, stuff logons, scan, and try ProxyShell and ProxyToken.

Layout (relative to ``dest``)::

    README.txt                                   collection notes + SHA-256 list (skipped: not a log)
    EXCH01.contoso.com/C/inetpub/logs/LogFiles/W3SVC1/u_ex21030{1,2,3}.log
        Computer "EXCH01.contoso.com" from the folder name; IIS default fields; CRLF;
        a second header block mid-file (worker restart).
    EXCH01.contoso.com/C/Windows/System32/LogFiles/Firewall/pfirewall.log
        Windows Firewall W3C log (skipped: not a web-server log)
    EXCH01.contoso.com/C/Program Files/Microsoft/Exchange Server/V15/TransportRoles/Logs/
        MessageTracking/MSGTRK2021030300-1.LOG   Exchange message tracking (skipped)
    10.1.1.12/inetpub/logs/LogFiles/W3SVC1/u_ex21030{1,2,3}.log
        logs ``s-computername`` EXCH02 (so Computer is the short name "EXCH02", not the folder);
        extended fields incl. cs(Cookie) and cs-host.
    EXCH03.contoso.com/C/inetpub/logs/LogFiles/W3SVC1/u_ex210301.log.gz (gzip), u_ex21030{2,3}.log
    EXCH04.contoso.com/C/inetpub/logs/LogFiles/W3SVC1/u_ex21030{1,2,3}.log
        the #Fields line changes mid-file on 2 March (sc-bytes and cs-bytes added).
    WEB01/C$/inetpub/logs/LogFiles/W3SVC1/u_ex21030{1,2,3}.log
        plain IIS 8.5 intranet site, no Exchange path; Computer "WEB01". The last line of
        u_ex210303.log was cut off by a live collection: one bad line, no final newline.
    sentinel/SecurityAlert_query_data.csv        portal "Export to CSV" (multi-line Entities)
    sentinel/data-export/SecurityAlert/y=2021/m=03/d=03/h=09/m=00/PT1H.json   JSON lines

Planted, and what the two hunts must return on it (raw files: ``-`` read as ``""``):

Hunt A (Exchange servers and their alerts), one row per Exchange server, WEB01 absent::

    exch01.contoso.com  Alerts 3  (6 alert rows: updates repeat in AlertTimes/AlertNames)
    exch02              null      (Computer is the short s-computername; its alert names
                                   exch02.contoso.com, so the join misses: coverage note)
    exch03.contoso.com  null      (its only alert's host entity has HostName "EXCH03" and no
                                   DnsDomain, so the join misses: coverage note)
    exch04.contoso.com  Alerts 1  (2 alert rows; entity HostName "EXCH04", upper case)

The "likely missing DNS domain" coverage note counts 2 servers (exch02, exch03.contoso.com).

Hunt B (suspect mailbox export), exactly three findings (TenantId ""):

1. the planted Dark Halo export: EXCH01.contoso.com
   ``/owa/auth/logon/themes/resources/bg_outlook.zip`` fetched twice by 203.0.113.77
   (2021-03-03 05:41:12 and 05:52:40), no query string.
2. a ProxyLogon probe: EXCH03.contoso.com ``/owa/auth/x.js`` fetched once by 192.0.2.81.
   (On EXCH01 the same probe came from two addresses: dcount_cIP 2, so no finding there.)
3. a benign one-off: EXCH04.contoso.com
   ``/owa/auth/15.1.2176/themes/resources/Segoe-UI/segoeui-semibold.woff`` fetched once by an
   old Firefox from 198.18.77.201 (a false positive to mark).

Blind spots planted for the coverage notes: the same export pulled from EXCH02 over IPv6
(3ffe:1900:4545:3::45) and an ordinary IPv6 OWA user (3ffe:1900:4545:7::2a) on EXCH02: hunt B
drops every IPv6 client, and the "public IPv6 clients dropped" note counts their 15 candidate
requests (the export once, the user's 14 static fetches without a query string). Every raw request without a query string, e.g. ``GET /owa/ -``, carries
W3C's ``-``: read as ``""`` by default, kept with ``keep_dash``. ProxyLogon probing
(``POST /ecp/y.js`` with an ``X-BEResource`` cookie, anonymous Autodiscover POSTs,
``/ecp/DDI/DDIService.svc/SetObject?schema=OABVirtualDirectory``, a China Chopper web shell
``/owa/auth/RedirSuiteServerProxy.aspx``) is visible in the logs but excluded by hunt B
(``.aspx``, query strings, or not under ``/owa/``).

Planted for the Exchange hunting pack (rules/exchange-pack/, the ten Sentinel dev-set
queries; what each finds is ``DemoSummary.pack``, checked by tests/pack/). Every actor has its
own 203.0.113.0/24 address and no planted path contains ``/owa/``, so the two hunts above
return exactly what they returned before the pack (and their coverage notes count the same):

- many-user-agents: 203.0.113.150 fingerprints EXCH01 (12 GETs refused with 401/404, four
  user agents rotated), 2 March 20:14.
- proxylogon-uris: the ProxyLogon probes already above (``/owa/auth/x.js``, ``POST /ecp/y.js``).
- failed-logons: 203.0.113.61 stuffs ActiveSync (``OPTIONS``, 401.1) on EXCH01, 3 March
  14:21-14:24: 24, 31, 22 failures in three minutes (three findings), then 9.
- iis-brute-force: 203.0.113.23 sprays EWS on EXCH04 with Basic auth, 2 March 01:00-05:32:
  1,260 failures (401.1, Win32 1326) over 42 accounts, two user agents alternating (never 20 a
  minute), then a staff account's EWS calls succeed at 05:47.
- webshell-commands and alert-linked-requests: a second web shell
  ``/aspnet_client/system_web/errorEE.aspx`` on EXCH02, checked by 203.0.113.45 right after
  its ProxyLogon there (02:10) and driven with GET commands at 23:18-23:26 (``whoami`` twice,
  ``cmd.exe /c ipconfig``, ``net user /domain``, and ``net group`` which the keywords miss).
  Defender's last alert (23:36:12, MDATP) names the file and the host ``EXCH02``, exactly as
  EXCH02 logs s-computername: the alert-linked hunt joins on that, case-sensitively, and looks
  back 1 h for alerts and 7 d for requests from ``DEMO_NOW`` (2021-03-04 00:10 UTC, the
  collection time). Hunt A keys the alert as exch02.contoso.com, like the earlier one.
- proxyshell: 203.0.113.133 runs the autodiscover SSRF chain on EXCH03 (3 requests, 3 March
  07:03); proxytoken: the same actor adds an inbox rule to finance@contoso.com on EXCH02 (the
  one server logging cookies) with a ``SecurityToken`` cookie, 07:21. (ProxyShell and
  ProxyToken were disclosed in August 2021; the demo's March dates predate them.)
- pentest-user-agents: 203.0.113.98 scans EXCH04 with the framework agent
  ``Mozilla/5.0 (Windows NT 10.0; Win32; x32; rv:60.0)`` (5 requests, 1 March 09:12).
- rare-user-agents: no plant of its own; the demo has 21 user-agent lengths, so the query's
  20 rarest return one (arbitrary, KQL's ``innerunique``) request each; the rarest are the
  planted one-offs and actors above.

Everything above is also in :class:`DemoSummary`, which tests assert on.
"""
from __future__ import annotations

import dataclasses
import gzip
import hashlib
import os
import random
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import platformdirs

from engine import demo_alerts as alerts_mod
from engine.demo_alerts import AlertRow, HostEntity
from engine.demo_traffic import (
    DEFAULT_FIELDS, DEFAULT_PLUS_BYTES_FIELDS, EXTENDED_FIELDS, IIS10, IIS85, OWA_AUTH, UA,
    DayTraffic, Person, Request, Server, TrafficMix, header_block, intranet_day, make_people,
    render_line,
)

DEMO_VERSION = 2  # 2: the Exchange hunting pack's planted activity
# README.txt's first line. A folder whose README.txt starts with it is a previous demo, and
# only such a folder (or an empty one) may be (re)written.
MARKER = "exhunt demo evidence (synthetic data generated by `exhunt demo`)"
DAYS = (date(2021, 3, 1), date(2021, 3, 2), date(2021, 3, 3))
SEED = 20210302

ATTACKER = "203.0.113.45"  # ProxyLogon exploitation and web shell
EXFIL = "203.0.113.77"  # pulls the export
# IPv6 clients come from 3ffe::/16, the retired 6bone test range: nobody's address today, yet
# globally scoped, so they count as *public* IPv6 clients (2001:db8::/32 and 3fff::/20 are
# documentation ranges that exhunt's coverage note, like Python's is_global, does not count).
EXFIL_V6 = "3ffe:1900:4545:3::45"
USER_V6 = "3ffe:1900:4545:7::2a"
EXPORT_STEM = "/owa/auth/logon/themes/resources/bg_outlook.zip"
PROBE_STEM = "/owa/auth/x.js"
FONT_STEM = f"{OWA_AUTH}/themes/resources/Segoe-UI/segoeui-semibold.woff"
SHELL_STEM = "/owa/auth/RedirSuiteServerProxy.aspx"

# --- Planted for the Exchange hunting pack (rules/exchange-pack/) -----------------------------
# Every actor below uses its own 203.0.113.0/24 address: ordinary internet clients are drawn
# from 192.0.2.0/24, 198.51.100.0/24 and 198.18.0.0/15 (engine.demo_traffic.internet_ipv4), so
# no ordinary request can ever join a planted actor's group. No planted path contains "/owa/":
# hunt B (and its coverage notes) must see exactly what it saw before the pack existed.
DEMO_NOW = datetime(2021, 3, 4, 0, 10, 0)
"""The demo case's "now" (naive UTC): its collection time, shortly after the last alert
(2021-03-03 23:36:12) and after the last IIS line (2021-03-03 23:59:58).
``exhunt hunt DEMO --now 2021-03-04T00:10:00Z`` evaluates KQL's ``now()``/``ago()`` as the
responder who collected the evidence would, so that MaliciousAlertLinkedWebRequests'
``ago(1h)`` means what it meant then. Without ``--now`` (and in the console) exhunt anchors
at the latest TimeGenerated in the case, 2021-03-03 23:58:52, which on the demo gives the
same findings: the planted alert lies within an hour of both."""
RECON = "203.0.113.150"  # fingerprints EXCH01 rotating user agents (many-user-agents)
RECON_AGENTS = (
    "Mozilla/5.0 (X11; Linux x86_64; rv:78.0) Gecko/20100101 Firefox/78.0",
    "curl/7.74.0",
    "Go-http-client/1.1",
    "Mozilla/5.0 (Windows NT 6.1; WOW64; Trident/7.0; rv:11.0) like Gecko",
)
RECON_PROBES = (  # (stem, status): anonymous GETs an Exchange server refuses
    ("/autodiscover/autodiscover.xml", 401), ("/EWS/Exchange.asmx", 401), ("/mapi/nspi/", 401),
    ("/Microsoft-Server-ActiveSync/default.eas", 401), ("/rpc/rpcproxy.dll", 401),
    ("/ecp/Current/exporttool/microsoft.exchange.ediscovery.exporttool.application", 404),
    ("/.well-known/security.txt", 404), ("/remote/fgt_lang", 404), ("/api/v1/version", 404),
    ("/EWS/Services.wsdl", 401), ("/mapi/emsmdb/", 401), ("/PowerShell/", 401),
)
RECON_START = datetime(2021, 3, 2, 20, 14, 3)
RECON_EVERY_S = 7
SPRAY = "203.0.113.23"  # slow EWS password spray on EXCH04, then a success (iis-brute-force)
SPRAY_START = datetime(2021, 3, 2, 1, 0, 0)
SPRAY_FAILURES = 1260  # the query wants >= 1200 failures in one group
SPRAY_EVERY_S = 13  # ~4.6 a minute: never the 20 a minute failed-logons looks for
SPRAY_ACCOUNTS = 42  # first people of the demo's staff list, round robin
SPRAY_AGENTS = ("outlook", "ews_client")  # keys of UA: the tool alternates two disguises
SPRAY_VICTIM = 17  # index in the staff list whose password it guessed
SPRAY_SUCCESSES = (datetime(2021, 3, 2, 5, 47, 13), datetime(2021, 3, 2, 5, 47, 15),
                   datetime(2021, 3, 2, 5, 47, 21), datetime(2021, 3, 2, 5, 49, 2))
STUFFER = "203.0.113.61"  # burst of failed ActiveSync logons on EXCH01 (failed-logons)
STUFFER_AGENT = "Apple-iPhone9C1/1602.92"
STUFFER_BURST = ((datetime(2021, 3, 3, 14, 21), 24), (datetime(2021, 3, 3, 14, 22), 31),
                 (datetime(2021, 3, 3, 14, 23), 22), (datetime(2021, 3, 3, 14, 24), 9))
FAILED_LOGON_THRESHOLD = 20  # HighFailedLogonCountByClientIP's failedThreshold
PROXYSHELL = "203.0.113.133"  # ProxyShell on EXCH03, ProxyToken on EXCH02
PROXYSHELL_AGENT = "python-requests/2.26.0"
PROXYSHELL_QUERIES = (  # (time, method, csUriQuery) against /autodiscover/autodiscover.json
    (datetime(2021, 3, 3, 7, 3, 11), "GET",
     "@contoso.com/mapi/nspi/?&Email=autodiscover/autodiscover.json%3F@contoso.com"),
    (datetime(2021, 3, 3, 7, 3, 12), "POST",
     "@contoso.com/autodiscover/autodiscover.xml?&Email=autodiscover/autodiscover.json%3F@contoso.com"),
    (datetime(2021, 3, 3, 7, 3, 16), "POST",
     "@contoso.com/powershell/?X-Rps-CAT=VgEAVAdXaW5kb3dzQwBBCEtlcmJlcm9zTBhBZG1pbmlzdHJhdG9yQGNvbnRvc28uY29t"
     "&Email=autodiscover/autodiscover.json%3F@contoso.com"),
)
PROXYTOKEN_STEM = "/ecp/finance@contoso.com/RulesEditor/InboxRules.svc/NewObject"
PROXYTOKEN_CANARY = "wVmYXNlcnZpY2VAY29udG9zby5jb20.UjQ0NTE3OTg2"
PROXYTOKEN_COOKIE = "SecurityToken=x"
PROXYTOKEN_TIMES = (datetime(2021, 3, 3, 7, 21, 40), datetime(2021, 3, 3, 7, 21, 41))
PENTEST = "203.0.113.98"  # scans EXCH04 with a framework's user agent (pentest-user-agents)
PENTEST_AGENT = "Mozilla/5.0 (Windows NT 10.0; Win32; x32; rv:60.0)"
PENTEST_PROBES = (("GET", "/", 302), ("GET", "/autodiscover/autodiscover.xml", 401),
                  ("GET", "/EWS/Exchange.asmx", 401),
                  ("GET", "/ecp/Current/exporttool/microsoft.exchange.ediscovery.exporttool.application", 404),
                  ("POST", "/autodiscover/autodiscover.xml", 401))
PENTEST_START = datetime(2021, 3, 1, 9, 12, 40)
PENTEST_EVERY_S = 3
# A second web shell, on EXCH02 (the one server that logs s-computername, which the
# alert-linked hunt joins Defender's host name on), driven with GET commands.
SHELL2_STEM = "/aspnet_client/system_web/errorEE.aspx"
SHELL2_FILE = "errorEE.aspx"
SHELL2_AGENT = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                "Chrome/78.0.3904.108 Safari/537.36")  # the actor's browser, as on EXCH01
SHELL2_REQUESTS = (  # (time, csUriQuery as logged, a command PotentialWebshell's keywords know)
    (datetime(2021, 3, 3, 2, 10, 2), "", False),  # checks the shell answers, right after the exploit
    (datetime(2021, 3, 3, 23, 18, 7), "c=whoami", True),
    (datetime(2021, 3, 3, 23, 18, 41), "c=cmd.exe%20/c%20ipconfig%20/all", True),
    (datetime(2021, 3, 3, 23, 19, 55), "c=net%20user%20/domain", True),
    # Visible in the logs, but neither whoami nor `net user` nor `cmd /c`: not a finding.
    (datetime(2021, 3, 3, 23, 21, 30), "c=net%20group%20%22Exchange%20Trusted%20Subsystem%22%20/domain", False),
    (datetime(2021, 3, 3, 23, 26, 12), "c=whoami", True),
)
SHELL2_ALERT_TIME = datetime(2021, 3, 3, 23, 36, 12, 418207)


class DemoError(Exception):
    """The destination is not empty and is not a previous demo folder."""


@dataclass(frozen=True)
class DemoFile:
    path: str  # relative to the demo folder, '/'-separated
    kind: str  # "iis-w3c" | "securityalert-export" | "skipped" (as the ingest report says)
    computer: str | None  # Computer the reader should derive (IIS files only)
    rows: int  # rows the reader should load
    bad_lines: int = 0
    bad_line_numbers: tuple[int, ...] = ()  # 1-based
    reason: str = ""  # why a skipped file is skipped, in words


@dataclass(frozen=True)
class ExpectedServer:
    """One hunt A output row (lists are unordered in KQL: compare them sorted)."""
    exchange_server: str
    alerts: int | None
    alert_times: tuple[datetime, ...] | None
    alert_names: tuple[str, ...] | None


@dataclass(frozen=True)
class ExpectedExport:
    """One hunt B output row."""
    tenant_id: str
    file_name: str
    computer: str
    cs_uri_stem: str
    client_ip: str
    access_times: tuple[datetime, ...]  # every access, in time order
    what: str

    @property
    def start_time(self) -> datetime:
        return self.access_times[0]

    @property
    def end_time(self) -> datetime:
        return self.access_times[-1]

    @property
    def access(self) -> int:
        return len(self.access_times)


@dataclass(frozen=True)
class PackStory:
    """What one rule of the Exchange hunting pack finds on the demo (at DEMO_NOW)."""
    slug: str
    sentinel_file: str  # the Sentinel original's file name (rules/exchange-pack/<file>)
    findings: int
    story: str


@dataclass(frozen=True)
class DemoSummary:
    dest: Path
    files: tuple[DemoFile, ...]
    w3c_rows: int
    alert_rows: int
    exchange_servers: tuple[str, ...]  # Computer values as the reader derives them
    plain_iis_servers: tuple[str, ...]
    hunt_a: tuple[ExpectedServer, ...]  # one per Exchange server, in SERVERS order
    hunt_b: tuple[ExpectedExport, ...]  # the planted mailbox export first, then probe, then benign
    missing_dns_domain_servers: tuple[str, ...]  # hunt A servers the coverage note names
    ipv6_clients: tuple[str, ...]  # public IPv6 clients hunt B drops
    ipv6_candidate_rows: int  # their rows that pass every hunt B filter but the IP ones
    tenant_id_alerts: str = alerts_mod.TENANT_ID
    stories: tuple[str, ...] = field(default=())
    pack: tuple[PackStory, ...] = field(default=())  # rules/exchange-pack/, in file-name order
    now: datetime = DEMO_NOW

    def pack_story(self, slug: str) -> PackStory:
        for story in self.pack:
            if story.slug == slug:
                return story
        raise KeyError(slug)

    def file(self, path: str) -> DemoFile:
        for f in self.files:
            if f.path == path:
                return f
        raise KeyError(path)

    def describe(self) -> str:
        """What was written, for a person (the ``exhunt demo`` command prints it)."""
        lines = [f"Demo evidence written to {self.dest}", ""]
        width = min(70, max(len(f.path) for f in self.files))
        for f in self.files:
            if f.kind == "skipped":
                what = f"skipped: {f.reason}"
            elif f.kind == "iis-w3c":
                what = f"IIS W3C, Computer {f.computer}, {f.rows} rows"
                if f.bad_lines:
                    what += f", {f.bad_lines} bad line"
            else:
                what = f"SecurityAlert export, {f.rows} rows"
            if len(f.path) > width:  # keep the column for the rest; long paths get a line
                lines.append(f"  {f.path}")
                lines.append(f"  {''.ljust(width)}  {what}")
            else:
                lines.append(f"  {f.path.ljust(width)}  {what}")
        lines += ["", f"W3CIISLog rows: {self.w3c_rows}   SecurityAlert rows: {self.alert_rows}", "",
                  "Planted:"]
        lines += [f"  - {s}" for s in self.stories]
        if self.pack:
            lines += ["", f"Exchange hunting pack (rules/exchange-pack/), evaluated at {self.now:%Y-%m-%d %H:%M} UTC:"]
            lines += [f"  - {p.slug}: {p.findings} finding{'' if p.findings == 1 else 's'}: {p.story}"
                      for p in self.pack]
        # The evidence is historic: name the "now" its story means (exhunt's default anchor is
        # the latest TimeGenerated, a few minutes earlier).
        lines += ["", f"Collected at {self.now:%Y-%m-%d %H:%M} UTC: KQL's now()/ago() mean that time with "
                      f"exhunt hunt {self.dest} --now {self.now:%Y-%m-%dT%H:%M:%S}Z"]
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Servers and their log files

@dataclass(frozen=True)
class _IisServer:
    server: Server
    folder: str  # where its W3SVC1 logs live, relative to the demo folder
    computer: str  # what the reader derives
    software: str
    fields_by_day: tuple[tuple[str, ...], ...]  # fields at the start of each day
    exchange: bool = True


EXCH01 = _IisServer(Server("EXCH01", "10.1.1.11"), "EXCH01.contoso.com/C/inetpub/logs/LogFiles/W3SVC1",
                    "EXCH01.contoso.com", IIS10, (DEFAULT_FIELDS,) * 3)
EXCH02 = _IisServer(Server("EXCH02", "10.1.1.12"), "10.1.1.12/inetpub/logs/LogFiles/W3SVC1",
                    "EXCH02", IIS10, (EXTENDED_FIELDS,) * 3)
EXCH03 = _IisServer(Server("EXCH03", "10.1.1.13"), "EXCH03.contoso.com/C/inetpub/logs/LogFiles/W3SVC1",
                    "EXCH03.contoso.com", IIS10, (DEFAULT_FIELDS,) * 3)
EXCH04 = _IisServer(Server("EXCH04", "10.1.1.14"), "EXCH04.contoso.com/C/inetpub/logs/LogFiles/W3SVC1",
                    "EXCH04.contoso.com", IIS10,
                    (DEFAULT_FIELDS, DEFAULT_FIELDS, DEFAULT_PLUS_BYTES_FIELDS))
WEB01 = _IisServer(Server("WEB01", "10.1.2.20"), "WEB01/C$/inetpub/logs/LogFiles/W3SVC1",
                   "WEB01", IIS85, (DEFAULT_FIELDS,) * 3, exchange=False)
SERVERS = (EXCH01, EXCH02, EXCH03, EXCH04, WEB01)
EXCH04_FIELDS_CHANGE = datetime(2021, 3, 2, 18, 30, 0)  # admin adds byte counts mid-day
GZIPPED = {(EXCH03.folder, DAYS[0])}


def _t(day: int, hms: str) -> datetime:
    h, m, s = (int(x) for x in hms.split(":"))
    return datetime(2021, 3, day, h, m, s)


# ---------------------------------------------------------------------------------------------
# Planted requests

def _attack(server: _IisServer, people: list[Person]) -> list[Request]:
    """The requests the story adds to a server's ordinary traffic."""
    py = "python-requests/2.25.1"
    old_chrome = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                  "Chrome/78.0.3904.108 Safari/537.36")
    out: list[Request] = []
    if server is EXCH01:
        canary = "Q0VDU0hBUkVEQ0FOQVJZ.0x7fd3c1a8b2e94f5d9a61"
        out += [
            Request(_t(2, "21:02:17"), "GET", PROBE_STEM, client_ip="198.51.100.14", user_agent=UA["zgrab"],
                    status=200, sc_bytes=1380, time_taken=31),
            Request(_t(2, "23:48:09"), "GET", PROBE_STEM, client_ip=ATTACKER, user_agent=py,
                    status=200, sc_bytes=1380, time_taken=15),
            Request(_t(3, "02:11:40"), "POST", "/ecp/y.js", client_ip=ATTACKER,
                    user_agent="ExchangeServicesClient/0.0.0.0", status=200, sc_bytes=4190, time_taken=343),
            Request(_t(3, "02:11:41"), "POST", "/autodiscover/autodiscover.xml", client_ip=ATTACKER,
                    user_agent=py, status=200, sc_bytes=3811, time_taken=109),
            Request(_t(3, "02:11:43"), "POST", "/ecp/y.js", client_ip=ATTACKER,
                    user_agent="ExchangeServicesClient/0.0.0.0", status=200, sc_bytes=1630, time_taken=93),
            Request(_t(3, "02:11:45"), "POST", "/ecp/proxyLogon.ecp", client_ip=ATTACKER, user_agent=py,
                    status=241, sc_bytes=980, time_taken=187),
            Request(_t(3, "02:11:47"), "POST", "/ecp/DDI/DDIService.svc/GetObject",
                    f"schema=OABVirtualDirectory&msExchEcpCanary={canary}", client_ip=ATTACKER,
                    user_agent=py, status=200, sc_bytes=5120, time_taken=452),
            Request(_t(3, "02:11:49"), "POST", "/ecp/DDI/DDIService.svc/SetObject",
                    f"schema=OABVirtualDirectory&msExchEcpCanary={canary}", client_ip=ATTACKER,
                    user_agent=py, status=200, sc_bytes=1711, time_taken=1203),
            Request(_t(3, "02:11:52"), "POST", "/ecp/DDI/DDIService.svc/SetObject",
                    f"schema=ResetOABVirtualDirectory&msExchEcpCanary={canary}", client_ip=ATTACKER,
                    user_agent=py, status=200, sc_bytes=1702, time_taken=2984),
        ]
        shell_times = ["02:12:30", "02:14:02", "02:20:51", "02:31:07", "03:02:44", "04:15:09",
                       "05:12:33", "05:38:20", "05:55:03"]
        out += [Request(_t(3, hms), "POST", SHELL_STEM, client_ip=ATTACKER, user_agent=old_chrome,
                        status=200, sc_bytes=90 + i * 37, cs_bytes=310 + i * 11, time_taken=78 + i * 9)
                for i, hms in enumerate(shell_times)]
        out += [Request(_t(3, hms), "GET", EXPORT_STEM, client_ip=EXFIL, user_agent="curl/7.68.0",
                        status=200, sc_bytes=size, time_taken=taken)
                for hms, size, taken in (("05:41:12", 287_454_211, 312_044), ("05:52:40", 287_454_211, 298_511))]
    elif server is EXCH02:
        out += [
            Request(_t(3, "02:09:13"), "POST", "/ecp/y.js", client_ip=ATTACKER,
                    user_agent="ExchangeServicesClient/0.0.0.0", cookie="X-BEResource=localhost~1942062522",
                    status=500, sc_bytes=1208, time_taken=62),
            Request(_t(3, "02:09:15"), "POST", "/ecp/y.js", client_ip=ATTACKER,
                    user_agent="ExchangeServicesClient/0.0.0.0",
                    cookie="X-BEResource=EXCH02.contoso.com/EWS/Exchange.asmx?a=~1942062522",
                    status=200, sc_bytes=2301, time_taken=140),
            Request(_t(3, "02:09:18"), "POST", "/autodiscover/autodiscover.xml", client_ip=ATTACKER,
                    user_agent=py, status=200, sc_bytes=3811, time_taken=120),
            Request(_t(3, "06:03:10"), "GET", EXPORT_STEM, client_ip=EXFIL_V6, user_agent="curl/7.68.0",
                    status=200, sc_bytes=287_454_211, time_taken=305_876),
        ]
        out += _ipv6_user_session(people)
    elif server is EXCH03:
        out.append(Request(_t(2, "22:30:05"), "GET", PROBE_STEM, client_ip="192.0.2.81",
                           user_agent=UA["zgrab"], status=200, sc_bytes=1380, time_taken=46))
    elif server is EXCH04:
        out.append(Request(_t(2, "16:20:31"), "GET", FONT_STEM, client_ip="198.18.77.201",
                           user_agent=UA["firefox_esr"], status=200, sc_bytes=61_204, time_taken=46,
                           referer=f"https://mail.contoso.com{OWA_AUTH}/themes/resources/logon.css"))
    return out


def _pack_attacks(server: _IisServer, people: list[Person]) -> list[Request]:
    """The requests planted so that each query of the Exchange hunting pack finds something.

    Deterministic without a generator: every time, user and value comes from the constants
    above (the ordinary traffic's seeded generators are not touched, so it stays the same).
    """
    out: list[Request] = []
    if server is EXCH01:
        # Fingerprinting before the ProxyLogon attempt: one GET per probe, agents rotated.
        out += [Request(RECON_START + timedelta(seconds=RECON_EVERY_S * i), "GET", stem, client_ip=RECON,
                        user_agent=RECON_AGENTS[i % len(RECON_AGENTS)], status=status,
                        substatus=2 if status == 401 else 0, win32=5 if status == 401 else 2,
                        sc_bytes=1293, time_taken=3)
                for i, (stem, status) in enumerate(RECON_PROBES)]
        out += stuffer_requests(people)
    elif server is EXCH02:
        out += [Request(at, "GET", SHELL2_STEM, query, client_ip=ATTACKER, user_agent=SHELL2_AGENT,
                        status=200, sc_bytes=180 + 61 * i, cs_bytes=420 + len(query), time_taken=93 + 17 * i)
                for i, (at, query, _) in enumerate(SHELL2_REQUESTS)]
        # ProxyToken: the first call is refused and hands back a canary, the second uses it.
        first, second = PROXYTOKEN_TIMES
        out += [Request(first, "POST", PROXYTOKEN_STEM, client_ip=PROXYSHELL, user_agent=PROXYSHELL_AGENT,
                        cookie=PROXYTOKEN_COOKIE, status=500, sc_bytes=2113, time_taken=78),
                Request(second, "POST", PROXYTOKEN_STEM, f"msExchEcpCanary={PROXYTOKEN_CANARY}",
                        client_ip=PROXYSHELL, user_agent=PROXYSHELL_AGENT, cookie=PROXYTOKEN_COOKIE,
                        status=200, sc_bytes=1544, time_taken=203)]
    elif server is EXCH03:
        out += [Request(at, method, "/autodiscover/autodiscover.json", query, client_ip=PROXYSHELL,
                        user_agent=PROXYSHELL_AGENT, status=200, sc_bytes=2048 + 311 * i, time_taken=140 + 9 * i)
                for i, (at, method, query) in enumerate(PROXYSHELL_QUERIES)]
    elif server is EXCH04:
        out += [Request(PENTEST_START + timedelta(seconds=PENTEST_EVERY_S * i), method, stem, client_ip=PENTEST,
                        user_agent=PENTEST_AGENT, status=status, substatus=2 if status == 401 else 0,
                        win32=5 if status == 401 else (2 if status == 404 else 0), sc_bytes=1245, time_taken=4)
                for i, (method, stem, status) in enumerate(PENTEST_PROBES)]
        out += spray_requests(people)
    return out


def spray_requests(people: list[Person]) -> list[Request]:
    """The EWS password spray on EXCH04: SPRAY_FAILURES Basic-auth failures (401.1, Win32 1326
    "unknown user name or bad password") round robin over SPRAY_ACCOUNTS accounts, two user
    agents alternating, then the guessed account's successful EWS calls."""
    out = [Request(SPRAY_START + timedelta(seconds=SPRAY_EVERY_S * i), "POST", "/EWS/Exchange.asmx",
                   user=people[i % SPRAY_ACCOUNTS].upn, client_ip=SPRAY,
                   user_agent=UA[SPRAY_AGENTS[i % len(SPRAY_AGENTS)]], status=401, substatus=1, win32=1326,
                   sc_bytes=1293, cs_bytes=612, time_taken=15)
           for i in range(SPRAY_FAILURES)]
    out += [Request(at, "POST", "/EWS/Exchange.asmx", user=people[SPRAY_VICTIM].upn, client_ip=SPRAY,
                    user_agent=UA[SPRAY_AGENTS[1]], status=200, sc_bytes=4200 + 900 * i, cs_bytes=980,
                    time_taken=187)
            for i, at in enumerate(SPRAY_SUCCESSES)]
    return out


def stuffer_requests(people: list[Person]) -> list[Request]:
    """A credential-stuffing burst against ActiveSync on EXCH01: for each (minute, n) of
    STUFFER_BURST, n failed Basic-auth OPTIONS requests spread over that minute."""
    out: list[Request] = []
    k = 0
    for minute, n in STUFFER_BURST:
        for j in range(n):
            out.append(Request(minute + timedelta(seconds=j * 60 // n), "OPTIONS",
                               "/Microsoft-Server-ActiveSync/default.eas", user=people[k % len(people)].domain_user,
                               client_ip=STUFFER, user_agent=STUFFER_AGENT, status=401, substatus=1,
                               win32=1326, sc_bytes=1293, time_taken=15))
            k += 1
    return out


def _ipv6_user_session(people: list[Person]) -> list[Request]:
    """An ordinary OWA logon on EXCH02 from a home IPv6 address."""
    return DayTraffic(random.Random(SEED + 62), DAYS[0], people).owa_session(
        people[7], USER_V6, _t(1, "19:14:05"))


# ---------------------------------------------------------------------------------------------
# Alerts

def _alerts() -> tuple[list[AlertRow], list[AlertRow]]:
    """(rows for the portal CSV, rows for the JSON-lines data export)."""
    mde = ("MDATP", "Microsoft Defender Advanced Threat Protection", "Microsoft")
    exch01 = HostEntity("exch01", "contoso.com", "a3b1c2d4e5f60718293a4b5c6d7e8f9012345678")
    exch02 = HostEntity("exch02", "contoso.com", "b4c2d3e5f6a70819203b4c5d6e7f8a9023456789")
    dc01 = HostEntity("dc01", "contoso.com", "c5d3e4f6a7b8091a213c4d5e6f7a8b9034567890")
    ws = HostEntity("ws-0231", "contoso.com", "d6e4f5a7b8c9102b324d5e6f7a8b9ca045678901")
    exch04 = HostEntity("EXCH04", "contoso.com", "e7f5a6b8c9d0213c435e6f7a8b9cad1056789012")
    exch03_short = HostEntity("EXCH03")
    exch02_named = HostEntity("EXCH02", "contoso.com", exch02.device_id)

    def mk(aid, when, name, sev, desc, hosts, status, start, src=mde, **kw) -> AlertRow:
        provider, product, vendor = src
        return AlertRow(aid, when, name, sev, desc, provider, product, vendor, status, hosts, start,
                        start + timedelta(minutes=4), **kw)

    webshell = "da637503067854471236_-1827330417"
    chopper = "da637503078789921544_1144086529"
    remote = "da637503160441000001_-690023173"
    exploit02 = "da637503065901234567_402718842"
    pwsh = "da637502676001000000_1899221304"
    um04 = "da637503099277126405_-1313006284"
    oab = "3c1f9e2a-64b7-4d0e-9a51-7f2e8c0b1d43"
    shell02 = "da637504113724182070_-918234417"
    csv_rows = [
        mk(pwsh, datetime(2021, 3, 2, 15, 40, 0, 100000), "Suspicious PowerShell command line", "Medium",
           "A suspicious PowerShell command line was found on the machine.", (ws,), "Resolved",
           datetime(2021, 3, 2, 15, 33, 12), account="megan.moore"),
        mk(exploit02, datetime(2021, 3, 3, 2, 9, 50, 123456), "Possible exploitation of Exchange Server vulnerabilities",
           "High", "Suspicious requests to the Exchange Control Panel were observed.", (exch02,), "New",
           datetime(2021, 3, 3, 2, 9, 13), tactics="InitialAccess", techniques="T1190"),
        mk(webshell, datetime(2021, 3, 3, 2, 13, 5, 447123), "Possible web shell installation", "High",
           "A file that can be used as a web shell was written by w3wp.exe.", (exch01,), "New",
           datetime(2021, 3, 3, 2, 11, 52), tactics="Persistence", techniques="T1505.003",
           file_name="RedirSuiteServerProxy.aspx"),
        mk(chopper, datetime(2021, 3, 3, 2, 31, 18, 992154), "'Chopper' web shell command detected", "High",
           "A command typical of the China Chopper web shell was run by w3wp.exe.", (exch01,), "New",
           datetime(2021, 3, 3, 2, 12, 30), tactics="Execution", techniques="T1059.001",
           account="SYSTEM"),
        mk(chopper, datetime(2021, 3, 3, 5, 58, 2, 330776), "'Chopper' web shell command detected", "High",
           "A command typical of the China Chopper web shell was run by w3wp.exe.", (exch01,), "New",
           datetime(2021, 3, 3, 2, 12, 30), tactics="Execution", techniques="T1059.001",
           account="SYSTEM"),
        mk(remote, datetime(2021, 3, 3, 6, 20, 44, 100000), "Suspicious remote activity", "Medium",
           "A remote session from EXCH01 created a service on DC01.", (exch01, dc01), "New",
           datetime(2021, 3, 3, 6, 18, 2), tactics="LateralMovement", techniques="T1021.002",
           account="administrator"),
        mk(webshell, datetime(2021, 3, 3, 9, 2, 44, 120331), "Possible web shell installation", "High",
           "A file that can be used as a web shell was written by w3wp.exe.", (exch01,), "InProgress",
           datetime(2021, 3, 3, 2, 11, 52), tactics="Persistence", techniques="T1505.003",
           file_name="RedirSuiteServerProxy.aspx"),
        mk(chopper, datetime(2021, 3, 3, 9, 3, 10, 666021), "'Chopper' web shell command detected", "High",
           "A command typical of the China Chopper web shell was run by w3wp.exe.", (exch01,), "InProgress",
           datetime(2021, 3, 3, 2, 12, 30), tactics="Execution", techniques="T1059.001",
           account="SYSTEM"),
        mk(exploit02, datetime(2021, 3, 3, 10, 15, 0, 0), "Possible exploitation of Exchange Server vulnerabilities",
           "High", "Suspicious requests to the Exchange Control Panel were observed.", (exch02,), "InProgress",
           datetime(2021, 3, 3, 2, 9, 13), tactics="InitialAccess", techniques="T1190"),
        # The last alert before collection (within an hour of DEMO_NOW): Defender names the web
        # shell file and the host as EXCH02, exactly as IIS logs s-computername there, which is
        # what the alert-linked hunt joins on (case-sensitive). Hunt A keys it as
        # exch02.contoso.com, like the earlier exch02 alert, so its rows do not change.
        mk(shell02, SHELL2_ALERT_TIME, "Suspicious web shell command execution", "High",
           f"w3wp.exe ran whoami.exe, ipconfig.exe and net.exe on behalf of {SHELL2_FILE}.", (exch02_named,),
           "New", SHELL2_REQUESTS[1][0], tactics="Persistence", techniques="T1505.003", account="SYSTEM",
           file_name=SHELL2_FILE),
    ]
    sentinel = ("ASI Scheduled Alerts", "Azure Sentinel", "Microsoft")
    jsonl_rows = [
        mk(um04, datetime(2021, 3, 3, 3, 5, 27, 712640), "Suspicious Exchange UM file creation", "High",
           "The Exchange Unified Messaging service wrote a file that can be used as a web shell.",
           (exch04,), "New", datetime(2021, 3, 3, 3, 1, 2), tactics="Persistence", techniques="T1505.003",
           file_name="supp0rt.aspx"),
        mk(oab, datetime(2021, 3, 3, 9, 0, 12, 553001),
           "Exchange OAB Virtual Directory Attribute Containing Potential Webshell", "High",
           "An OAB virtual directory's ExternalUrl holds script (set through ECP on EXCH03).",
           (exch03_short,), "New", datetime(2021, 3, 3, 2, 11, 49), src=sentinel, tactics="Persistence",
           techniques="T1505.003"),
        mk(um04, datetime(2021, 3, 3, 9, 30, 11, 0), "Suspicious Exchange UM file creation", "High",
           "The Exchange Unified Messaging service wrote a file that can be used as a web shell.",
           (exch04,), "InProgress", datetime(2021, 3, 3, 3, 1, 2), tactics="Persistence",
           techniques="T1505.003", file_name="supp0rt.aspx"),
    ]
    return csv_rows, jsonl_rows


def _expected_hunt_a(csv_rows: list[AlertRow], jsonl_rows: list[AlertRow]) -> tuple[ExpectedServer, ...]:
    # The CSV keeps milliseconds only; the JSON lines keep every digit we wrote.
    rows = [(r, alerts_mod.truncate_to_millis(r.time_generated)) for r in csv_rows]
    rows += [(r, r.time_generated) for r in jsonl_rows]
    out = []
    for server in SERVERS:
        if not server.exchange:
            continue
        key = server.computer.lower()
        hits = [(r, t) for r, t in rows for h in r.hosts if h.hunt_a_key == key]
        if hits:
            out.append(ExpectedServer(key, len({r.system_alert_id for r, _ in hits}),
                                      tuple(sorted(t for _, t in hits)),
                                      tuple(sorted(r.alert_name for r, _ in hits))))
        else:
            out.append(ExpectedServer(key, None, None, None))
    return tuple(out)


# ---------------------------------------------------------------------------------------------
# Files that are not web-server logs

def _firewall_log() -> bytes:
    rng = random.Random(SEED + 7)
    lines = ["#Version: 1.5", "#Software: Microsoft Windows Firewall", "#Time Format: Local",
             "#Fields: date time action protocol src-ip dst-ip src-port dst-port size tcpflags tcpsyn "
             "tcpack tcpwin icmptype icmpcode info path", ""]
    base = datetime(2021, 3, 2, 22, 0, 0)
    for i in range(120):
        at = base + timedelta(seconds=i * 37 + rng.randrange(0, 30))
        src = f"10.20.{rng.randrange(1, 12)}.{rng.randrange(10, 250)}"
        port = rng.choice((443, 443, 443, 80, 135, 445, 25))
        action = "ALLOW" if port != 135 else "DROP"
        lines.append(f"{at:%Y-%m-%d %H:%M:%S} {action} TCP {src} 10.1.1.11 {rng.randrange(49152, 65535)} "
                     f"{port} 0 - 0 0 0 - - - RECEIVE")
    return ("\r\n".join(lines) + "\r\n").encode("ascii")


def _message_tracking_log() -> bytes:
    header = [
        "#Software: Microsoft Exchange Server",
        "#Version: 15.01.2176.002",
        "#Log-type: Message Tracking Log",
        "#Date: 2021-03-03T00:00:04.118Z",
        "#Fields: date-time,client-ip,client-hostname,server-ip,server-hostname,source-context,"
        "connector-id,source,event-id,internal-message-id,message-id,network-message-id,"
        "recipient-address,recipient-status,total-bytes,recipient-count,related-recipient-address,"
        "reference,message-subject,sender-address,return-path,message-info,directionality,"
        "tenant-id,original-client-ip,original-server-ip,custom-data,transport-traffic-type,"
        "log-id,schema-version",
    ]
    rng = random.Random(SEED + 8)
    rows = []
    for i in range(40):
        at = datetime(2021, 3, 3, 0, 0, 4) + timedelta(seconds=i * 211 + rng.randrange(60))
        rows.append(f"{at:%Y-%m-%dT%H:%M:%S}.{rng.randrange(1000):03d}Z,10.1.1.11,EXCH01,10.1.1.11,"
                    f"EXCH01.contoso.com,,EXCH01\\Default EXCH01,SMTP,RECEIVE,{1200000 + i},"
                    f"<{rng.randrange(10**9)}@EXCH01.contoso.com>,,user{i % 9}@contoso.com,,"
                    f"{rng.randrange(4000, 90000)},1,,,Weekly report,noreply@contoso.com,"
                    f"noreply@contoso.com,,Incoming,,,,,Email,,15.01.2176.002")
    return ("\r\n".join(header + rows) + "\r\n").encode("utf-8")


# ---------------------------------------------------------------------------------------------
# IIS files

def _iis_file(server: _IisServer, day_index: int, requests: list[Request]) -> tuple[bytes, int]:
    """(file bytes, data rows) for one server-day, with a second header block mid-file."""
    day = DAYS[day_index]
    requests = sorted(requests, key=lambda r: r.at)
    fields = server.fields_by_day[day_index]
    rng = random.Random(SEED + 1000 * SERVERS.index(server) + day_index)
    restart = datetime(day.year, day.month, day.day) + timedelta(seconds=rng.randrange(2 * 3600, 5 * 3600))
    change = EXCH04_FIELDS_CHANGE if (server is EXCH04 and EXCH04_FIELDS_CHANGE.date() == day) else None
    lines = header_block(server.software, requests[0].at, fields)
    restarted = changed = False
    for req in requests:
        if not restarted and req.at >= restart:
            lines += header_block(server.software, req.at, fields)
            restarted = True
        if change is not None and not changed and req.at >= change:
            fields = DEFAULT_PLUS_BYTES_FIELDS
            lines += header_block(server.software, req.at, fields)
            changed = True
        lines.append(render_line(req, server.server, fields))
    return ("\r\n".join(lines) + "\r\n").encode("utf-8"), len(requests)


def _server_requests(server: _IisServer, day_index: int, people: list[Person]) -> list[Request]:
    rng = random.Random(SEED + 100 * SERVERS.index(server) + day_index)
    day = DAYS[day_index]
    if not server.exchange:
        return intranet_day(rng, day, people, 650)
    loopback = "::1" if server is EXCH03 else "127.0.0.1"
    reqs = DayTraffic(rng, day, people, TrafficMix(), loopback=loopback).requests()
    reqs += [r for r in [*_attack(server, people), *_pack_attacks(server, people)] if r.at.date() == day]
    return reqs


def _readme(files: dict[str, bytes]) -> bytes:
    lines = [
        MARKER,
        f"Demo version {DEMO_VERSION}. Not real data: every name and address is invented.",
        "",
        "Case IR-2021-0303 - Contoso Exchange estate, triage collection",
        f"Collected {DEMO_NOW:%Y-%m-%d %H:%M} UTC by the incident response team (robocopy of C:\\inetpub\\logs and",
        "C$ shares; alerts exported from the Sentinel workspace).",
        "",
        "Servers: EXCH01-EXCH04 (Exchange 2016 CU19, behind the load balancer at 10.0.0.5/6),",
        "WEB01 (intranet). EXCH02 was collected by IP address (10.1.1.12).",
        "",
        "SHA-256 of every file collected:",
    ]
    lines += [f"{hashlib.sha256(data).hexdigest()}  {path}" for path, data in sorted(files.items())]
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def staff() -> list[Person]:
    """Contoso's staff, as every generator of the demo sees them (same seed, same people)."""
    return make_people(random.Random(SEED), 60)


def _build() -> tuple[dict[str, bytes], DemoSummary]:
    people = staff()
    files: dict[str, bytes] = {}
    demo_files: list[DemoFile] = []
    for server in SERVERS:
        for day_index, day in enumerate(DAYS):
            data, rows = _iis_file(server, day_index, _server_requests(server, day_index, people))
            name = f"{server.folder}/u_ex{day:%y%m%d}.log"
            bad: tuple[int, ...] = ()
            if server is WEB01 and day_index == len(DAYS) - 1:
                # A live collection copied the file while IIS was writing its last line.
                cut = "2021-03-03 23:59:58 10.1.2.20 GET /news/default.aspx - 80 CONTOSO\\lee.gray 10.20.4"
                data += cut.encode("ascii")
                bad = (data.count(b"\n") + 1,)
            if (server.folder, day) in GZIPPED:
                data = gzip.compress(data, compresslevel=6, mtime=0)
                name += ".gz"
            files[name] = data
            demo_files.append(DemoFile(name, "iis-w3c", server.computer, rows, len(bad), bad))
    fw = "EXCH01.contoso.com/C/Windows/System32/LogFiles/Firewall/pfirewall.log"
    mt = ("EXCH01.contoso.com/C/Program Files/Microsoft/Exchange Server/V15/TransportRoles/Logs/"
          "MessageTracking/MSGTRK2021030300-1.LOG")
    files[fw] = _firewall_log()
    files[mt] = _message_tracking_log()
    demo_files += [DemoFile(fw, "skipped", None, 0, reason="Windows Firewall log, not a web-server log"),
                   DemoFile(mt, "skipped", None, 0, reason="Exchange message tracking log, not a web-server log")]
    csv_rows, jsonl_rows = _alerts()
    csv_path = "sentinel/SecurityAlert_query_data.csv"
    jsonl_path = "sentinel/data-export/SecurityAlert/y=2021/m=03/d=03/h=09/m=00/PT1H.json"
    files[csv_path] = alerts_mod.portal_csv(csv_rows)
    files[jsonl_path] = alerts_mod.json_lines(jsonl_rows)
    demo_files += [DemoFile(csv_path, "securityalert-export", None, len(csv_rows)),
                   DemoFile(jsonl_path, "securityalert-export", None, len(jsonl_rows))]
    files["README.txt"] = _readme(files)
    demo_files.append(DemoFile("README.txt", "skipped", None, 0, reason="collection notes, not a log"))

    export = ExpectedExport("", "bg_outlook.zip", EXCH01.computer, EXPORT_STEM, EXFIL,
                            (_t(3, "05:41:12"), _t(3, "05:52:40")), "Dark Halo style mailbox export")
    probe = ExpectedExport("", "x.js", EXCH03.computer, PROBE_STEM, "192.0.2.81", (_t(2, "22:30:05"),),
                           "ProxyLogon probe for /owa/auth/x.js")
    font = ExpectedExport("", "segoeui-semibold.woff", EXCH04.computer, FONT_STEM, "198.18.77.201",
                          (_t(2, "16:20:31"),), "benign: an old browser fetched a font variant once")
    # The IPv6 export fetch plus the IPv6 user's requests that hunt B would consider but for the IP.
    ipv6_candidates = 1 + sum(1 for r in _ipv6_user_session(people) if _hunt_b_candidate_ignoring_ip(r))
    summary = DemoSummary(
        dest=Path("."),
        files=tuple(demo_files),
        w3c_rows=sum(f.rows for f in demo_files if f.kind == "iis-w3c"),
        alert_rows=len(csv_rows) + len(jsonl_rows),
        exchange_servers=tuple(s.computer for s in SERVERS if s.exchange),
        plain_iis_servers=tuple(s.computer for s in SERVERS if not s.exchange),
        hunt_a=_expected_hunt_a(csv_rows, jsonl_rows),
        hunt_b=(export, probe, font),
        missing_dns_domain_servers=("exch02", "exch03.contoso.com"),
        ipv6_clients=(EXFIL_V6, USER_V6),
        ipv6_candidate_rows=ipv6_candidates,
        stories=(
            f"{EXCH01.computer}: ProxyLogon from {ATTACKER} on 2021-03-03 02:11 (POST /ecp/y.js, "
            f"SetObject OABVirtualDirectory), web shell {SHELL_STEM}, then {EXFIL} pulls "
            f"{EXPORT_STEM} twice (05:41:12, 05:52:40) -> hunt B finding",
            f"{EXCH03.computer}: {PROBE_STEM} probed once by 192.0.2.81 -> hunt B finding; on "
            f"{EXCH01.computer} it came from two addresses -> no finding",
            f"{EXCH04.computer}: {FONT_STEM} fetched once by 198.18.77.201 -> benign hunt B finding",
            f"EXCH02 (short name from s-computername): the same export pulled over IPv6 by {EXFIL_V6} "
            f"and an IPv6 OWA user {USER_V6} -> invisible to hunt B, counted in its coverage note",
            "Alerts: exch01.contoso.com (3 alerts, 6 rows with updates), exch04.contoso.com (1 alert, 2 rows) "
            "join hunt A; exch02.contoso.com and host 'EXCH03' (no DnsDomain) do not -> "
            "missing-DNS-domain coverage note (2 servers)",
            "WEB01: plain intranet IIS, not an Exchange server (absent from hunt A); its last "
            "file ends with a truncated line (1 bad line)",
            "Skipped files: README.txt, a Windows Firewall log, an Exchange message tracking log",
        ),
        pack=_pack_stories(people),
    )
    return files, summary


_PROXYLOGON_URI = re.compile(r"/owa/auth/[A-Za-z0-9]{1,30}\.js|/ecp/[A-Za-z0-9]{1,30}\.(js|flt|css)")


def _pack_stories(people: list[Person]) -> tuple[PackStory, ...]:
    """What each pack rule finds, counted from the planted constants (tests/pack checks it
    against the rules run on the written demo)."""
    planted = [r for server in SERVERS for r in [*_attack(server, people), *_pack_attacks(server, people)]]
    # Every planted request to a ProxyLogon-style script path comes from a public address.
    proxylogon = [r for r in planted if _PROXYLOGON_URI.search(r.stem)]
    bursts = [(minute, n) for minute, n in STUFFER_BURST if n >= FAILED_LOGON_THRESHOLD]
    commands = sorted({q for _, q, keyword in SHELL2_REQUESTS if keyword})
    spray_end = SPRAY_START + timedelta(seconds=SPRAY_EVERY_S * (SPRAY_FAILURES - 1))
    return (
        PackStory("many-user-agents", "ClientIPwithManyUserAgents.yaml", 1,
                  f"{RECON} fingerprints {EXCH01.computer} ({len(RECON_PROBES)} refused GETs, "
                  f"{len(RECON_AGENTS)} user agents rotated)"),
        PackStory("proxylogon-uris", "ExchangeServerProxyLogonURI.yaml", len(proxylogon),
                  f"ProxyLogon script paths: {PROBE_STEM} probes (EXCH01 twice, EXCH03 once) and "
                  f"POST /ecp/y.js from {ATTACKER} on EXCH01 and EXCH02"),
        PackStory("failed-logons", "HighFailedLogonCountByClientIP.yaml", len(bursts),
                  f"{STUFFER} stuffs ActiveSync logons on {EXCH01.computer}: "
                  + ", ".join(f"{n} failures at {minute:%H:%M}" for minute, n in bursts)
                  + f" (3 March; {sum(n for _, n in STUFFER_BURST) - sum(n for _, n in bursts)} more "
                    f"in the next minute, under the threshold of {FAILED_LOGON_THRESHOLD})"),
        PackStory("alert-linked-requests", "MaliciousAlertLinkedWebRequests.yaml", 1,
                  f"Defender's alert at {SHELL2_ALERT_TIME:%H:%M} names {SHELL2_FILE} on EXCH02; "
                  f"{ATTACKER} requested {SHELL2_STEM} {len(SHELL2_REQUESTS)} times"),
        PackStory("webshell-commands", "PotentialWebshell.yaml", len(commands),
                  f"GET commands through {SHELL2_STEM} on EXCH02: " + ", ".join(commands)),
        PackStory("iis-brute-force", "Potential_IIS_BF.yaml", 1,
                  f"{SPRAY} sprays EWS on {EXCH04.computer}: {SPRAY_FAILURES} failures over "
                  f"{SPRAY_ACCOUNTS} accounts ({SPRAY_START:%H:%M}-{spray_end:%H:%M}, 2 March), "
                  f"then {people[SPRAY_VICTIM].upn} succeeds at {SPRAY_SUCCESSES[0]:%H:%M}"),
        PackStory("proxyshell", "ProxyShellPwn2Own.yaml", len(PROXYSHELL_QUERIES),
                  f"{PROXYSHELL} runs the ProxyShell autodiscover SSRF on {EXCH03.computer} "
                  f"(/mapi/nspi, autodiscover.xml, /powershell)"),
        PackStory("rare-user-agents", "RareUserAgentStrings.yaml", 20,
                  "one request per user-agent length among the 20 rarest lengths; the rarest are the "
                  "old Firefox font fetch (1), Go-http-client (3), ExchangeServicesClient/0.0.0.0 (4), "
                  f"curl (5) and the pentest agent (5)"),
        PackStory("proxytoken", "SuspectedProxyTokenExploitation.yaml", 1,
                  f"{PROXYSHELL} adds an inbox rule to finance@contoso.com through ProxyToken on EXCH02 "
                  f"(SecurityToken cookie, msExchEcpCanary)"),
        PackStory("pentest-user-agents", "UseragentExploitPentest.yaml", 1,
                  f"{PENTEST} scans {EXCH04.computer} with \"{PENTEST_AGENT}\""),
    )


def _hunt_b_candidate_ignoring_ip(r: Request) -> bool:
    stem = r.stem.lower()
    return ("/owa/" in stem and not r.query and stem.split(".")[-1] not in ("aspx", "ashx", "asp")
            and stem.split("/")[-1] != "")


# ---------------------------------------------------------------------------------------------
# Writing

def is_demo_folder(path: Path) -> bool:
    readme = path / "README.txt"
    try:
        with open(readme, "rb") as fh:
            return fh.readline().decode("utf-8", "replace").rstrip("\r\n") == MARKER
    except OSError:
        return False


def _demo_version(path: Path) -> int | None:
    try:
        with open(path / "README.txt", "rb") as fh:
            fh.readline()
            words = fh.readline().decode("utf-8", "replace").split()
        return int(words[2].rstrip("."))
    except (OSError, IndexError, ValueError):
        return None


def _remove_previous_demo(dest: Path) -> None:
    """Delete the files a previous demo listed in its README (and nothing else)."""
    root = dest.resolve()
    with open(dest / "README.txt", "rb") as fh:
        listed = [line.split(b"  ", 1)[1].decode("utf-8").rstrip("\r\n")
                  for line in fh if len(line) > 66 and line[64:66] == b"  "]
    folders: set[Path] = set()
    for rel in listed + ["README.txt"]:
        target = (dest / rel).resolve()
        if root in target.parents and target.is_file():
            target.unlink()
            folders.update(p for p in target.parents if root in p.parents)
    # Remove the demo's folders that are now empty, deepest first.
    for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()


def demo_summary() -> DemoSummary:
    """What ``write_demo`` writes, without writing it."""
    return _build()[1]


def write_demo(dest: Path) -> DemoSummary:
    """Write the demo evidence folder into ``dest`` (created if needed).

    Refuses (``DemoError``) a folder that holds anything but a previous demo, so it can never
    overwrite real evidence. A previous demo is replaced file by file.
    """
    dest = Path(dest)
    if dest.exists():
        if not dest.is_dir():
            raise DemoError(f"{dest} exists and is not a folder")
        if any(dest.iterdir()):
            if not is_demo_folder(dest):
                raise DemoError(f"{dest} is not empty and is not an exhunt demo folder; "
                                "choose an empty or new folder")
            _remove_previous_demo(dest)
    files, summary = _build()
    for rel, data in files.items():
        path = dest / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as fh:
            fh.write(data)
    return dataclasses.replace(summary, dest=dest)


def _user_demo_root() -> Path:
    return Path(platformdirs.user_data_dir("exhunt")) / "demo"


def demo_evidence_dir() -> Path:
    """The built-in demo evidence, written on first use (or when this version's demo changed)."""
    dest = _user_demo_root() / "evidence"
    if is_demo_folder(dest) and _demo_version(dest) == DEMO_VERSION:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    if not dest.exists():
        # Write beside it and rename, so a second process never sees a half-written folder.
        tmp = Path(tempfile.mkdtemp(prefix=".evidence-", dir=dest.parent))
        try:
            write_demo(tmp)
            os.rename(tmp, dest)
        except OSError:
            if not is_demo_folder(dest):
                raise
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    else:
        write_demo(dest)
    return dest


def demo_case_dir() -> Path:
    """Where the demo case (its loaded tables and dispositions) lives."""
    path = _user_demo_root() / "case"
    path.mkdir(parents=True, exist_ok=True)
    return path
