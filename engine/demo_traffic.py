"""Ordinary Exchange and IIS web traffic, as IIS writes it in W3C extended log files.

Shared by the demo evidence (``engine.demo``) and the benchmark generator
(``bench/generate.py``), so that the benchmark reads the same kind of lines an analyst's
evidence holds: Outlook over MAPI/HTTP, ActiveSync phones, EWS clients, Autodiscover, OWA
browser sessions with their static resources, ECP admins, load-balancer health checks,
Exchange's own Managed Availability probes and internet scanners.

Everything is driven by a ``random.Random`` the caller seeds, and times come from the day
being generated, never from the clock: the same seed gives the same requests.

Addresses: internal clients use 10.0.0.0/8; internet clients use the documentation ranges
(192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24), the benchmarking range 198.18.0.0/15 and the
retired 6bone range 3ffe::/16, so no address in the demo belongs to anybody. KQL's
``ipv4_is_private`` is false for those IPv4 ranges, exactly as for real internet addresses.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

EXCHANGE_BUILD = "15.1.2176"  # Exchange 2016 CU19, current in March 2021
OWA_AUTH = f"/owa/auth/{EXCHANGE_BUILD}"
OWA_PREM = f"/owa/prem/{EXCHANGE_BUILD}.2"
MAIL_HOST = "mail.contoso.com"
DOMAIN = "contoso.com"
NETBIOS_DOMAIN = "CONTOSO"

# The IIS 10 default field list (what an untouched Exchange 2016 server logs).
DEFAULT_FIELDS = (
    "date", "time", "s-ip", "cs-method", "cs-uri-stem", "cs-uri-query", "s-port",
    "cs-username", "c-ip", "cs(User-Agent)", "cs(Referer)", "sc-status", "sc-substatus",
    "sc-win32-status", "time-taken",
)
# What an administrator who ticked every box logs (s-computername gives the Computer).
EXTENDED_FIELDS = (
    "date", "time", "s-sitename", "s-computername", "s-ip", "cs-method", "cs-uri-stem",
    "cs-uri-query", "s-port", "cs-username", "c-ip", "cs-version", "cs(User-Agent)",
    "cs(Cookie)", "cs(Referer)", "cs-host", "sc-status", "sc-substatus", "sc-win32-status",
    "sc-bytes", "cs-bytes", "time-taken",
)
# Default fields plus the byte counts, which admins often add after an incident starts.
DEFAULT_PLUS_BYTES_FIELDS = DEFAULT_FIELDS[:-1] + ("sc-bytes", "cs-bytes", "time-taken")

IIS10 = "Microsoft Internet Information Services 10.0"
IIS85 = "Microsoft Internet Information Services 8.5"

# Static OWA resources: fetched without a query string by every browser that logs on, so
# hunt B never singles one out (many clients, many fetches).
OWA_LOGON_RESOURCES = (
    f"{OWA_AUTH}/themes/resources/favicon.ico",
    f"{OWA_AUTH}/themes/resources/logon.css",
    f"{OWA_AUTH}/themes/resources/olk_logo_white.png",
    f"{OWA_AUTH}/themes/resources/sign_in_arrow.png",
    f"{OWA_AUTH}/themes/resources/Segoe-UI/segoeui-regular.woff2",
    f"{OWA_AUTH}/themes/resources/Segoe-UI/segoeui-semilight.woff2",
    f"{OWA_AUTH}/scripts/premium/flogon.js",
)
OWA_BOOT_RESOURCES = (
    f"{OWA_PREM}/resources/styles/0/boot.worldwide.mouse.css",
    f"{OWA_PREM}/scripts/boot.worldwide.0.mouse.js",
    f"{OWA_PREM}/scripts/boot.worldwide.1.mouse.js",
    f"{OWA_PREM}/scripts/boot.worldwide.2.mouse.js",
    f"{OWA_PREM}/resources/images/0/sprite1.mouse.png",
    f"{OWA_PREM}/resources/themes/base/0/themeimages.png",
)

UA = {
    "chrome": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/88.0.4324.190 Safari/537.36",
    "edge": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/88.0.4324.192 Safari/537.36 Edg/88.0.705.81",
    "firefox": "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:86.0) Gecko/20100101 Firefox/86.0",
    "firefox_esr": "Mozilla/5.0 (Windows NT 6.1; Win64; x64; rv:78.0) Gecko/20100101 Firefox/78.0",
    "safari_mac": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
                  "(KHTML, like Gecko) Version/14.0.3 Safari/605.1.15",
    "safari_iphone": "Mozilla/5.0 (iPhone; CPU iPhone OS 14_4 like Mac OS X) AppleWebKit/605.1.15 "
                     "(KHTML, like Gecko) Version/14.0.3 Mobile/15E148 Safari/604.1",
    "outlook": "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.13801; Pro)",
    "outlook_2016": "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.4266; Pro)",
    "mac_outlook": "MacOutlook/16.46.21021202 (Intelx64 Mac OS X 10.15.7 (Build 19H524))",
    "mac_mail": "Mac OS X/10.15.7 (19H524); ExchangeWebServices/11.0 (343.1); Mail/13.4 (3608.120.23.2.4)",
    "teams": "MicrosoftNinja/1.0 Teams/1.0 (ExchangeServicesClient/0.0.0.0) SkypeSpaces/1.0a$*+",
    "ews_client": "ExchangeServicesClient/15.00.0913.015",
    "iphone_eas": "Apple-iPhone12C1/1804.221",
    "ipad_eas": "Apple-iPad8C1/1804.221",
    "samsung_eas": "Android-SAMSUNG-SM-G973F/101.90000",
    "outlook_mobile": "Outlook-iOS-Android/1.0",
    "amprobe": "AMProbe/Local/ClientAccess",
    "zgrab": "Mozilla/5.0 zgrab/0.x",
    "expanse": "Expanse, a Palo Alto Networks company, searches across the global IPv4 space "
               "multiple times per day to identify customers' presences on the Internet. "
               "If you would like to be excluded from our scans, please send IP addresses/domains "
               "to: scaninfo@paloaltonetworks.com",
    "censys": "Mozilla/5.0 (compatible; CensysInspect/1.1; +https://about.censys.io/)",
}
BROWSERS = ("chrome", "chrome", "chrome", "edge", "edge", "firefox", "safari_mac", "safari_iphone")
EAS_DEVICES = ("iphone_eas", "iphone_eas", "ipad_eas", "samsung_eas", "outlook_mobile")

FIRST_NAMES = (
    "adele", "alex", "allan", "amy", "ben", "brian", "carla", "chris", "christie", "dan",
    "debra", "diego", "emily", "enrico", "gerhart", "grady", "henrietta", "irvin", "isaiah",
    "johanna", "joni", "lee", "lidia", "lynne", "megan", "miriam", "nestor", "patti", "pradeep",
    "raul", "sandra", "stella", "tom", "wanda", "zrinka",
)
LAST_NAMES = (
    "vance", "wilber", "deyoung", "albertson", "gray", "johnson", "jones", "sherman", "vaughan",
    "lee", "brown", "garcia", "martinez", "lopez", "wilson", "anderson", "thomas", "moore",
)


def iis_text(value: str) -> str:
    """A value as IIS writes it in a W3C field: spaces become '+', empty becomes '-'."""
    return value.replace(" ", "+") if value else "-"


@dataclass
class Request:
    """One HTTP request as IIS logs it (before the server's own fields are added)."""
    at: datetime  # UTC; IIS logs whole seconds
    method: str
    stem: str
    query: str = ""
    user: str = ""
    client_ip: str = ""
    user_agent: str = ""
    referer: str = ""
    status: int = 200
    substatus: int = 0
    win32: int = 0
    sc_bytes: int = 0
    cs_bytes: int = 0
    time_taken: int = 15
    cookie: str = ""
    port: int = 443
    version: str = "HTTP/1.1"
    host: str = MAIL_HOST


@dataclass(frozen=True)
class Server:
    """The fields a server adds to every line it logs."""
    computer_name: str  # s-computername (NetBIOS name)
    ip: str
    site: str = "W3SVC1"


def w3c_fields(req: Request, server: Server) -> dict[str, str]:
    """Every W3C field exhunt's demo and bench know, as logged text."""
    return {
        "date": req.at.strftime("%Y-%m-%d"),
        "time": req.at.strftime("%H:%M:%S"),
        "s-sitename": server.site,
        "s-computername": server.computer_name,
        "s-ip": server.ip,
        "cs-method": req.method,
        "cs-uri-stem": req.stem,
        "cs-uri-query": req.query or "-",
        "s-port": str(req.port),
        "cs-username": req.user or "-",
        "c-ip": req.client_ip,
        "cs-version": req.version,
        "cs(User-Agent)": iis_text(req.user_agent),
        "cs(Cookie)": iis_text(req.cookie),
        "cs(Referer)": req.referer or "-",
        "cs-host": req.host or "-",
        "sc-status": str(req.status),
        "sc-substatus": str(req.substatus),
        "sc-win32-status": str(req.win32),
        "sc-bytes": str(req.sc_bytes),
        "cs-bytes": str(req.cs_bytes),
        "time-taken": str(req.time_taken),
    }


def render_line(req: Request, server: Server, fields: tuple[str, ...]) -> str:
    values = w3c_fields(req, server)
    return " ".join(values[f] for f in fields)


def header_block(software: str, at: datetime, fields: tuple[str, ...]) -> list[str]:
    """The four directives IIS writes each time it opens (or reopens) a log file."""
    return [
        f"#Software: {software}",
        "#Version: 1.0",
        f"#Date: {at:%Y-%m-%d %H:%M:%S}",
        f"#Fields: {' '.join(fields)}",
    ]


@dataclass(frozen=True)
class Person:
    user: str  # sAMAccountName
    office_ip: str  # 10.x address of the desk
    home_ip: str  # internet address when working from home
    browser: str  # key of UA
    desktop: str  # "outlook" | "outlook_2016" | "mac_outlook"
    phone: str  # key of UA (ActiveSync client)
    device_id: str
    mailbox_guid: str

    @property
    def upn(self) -> str:
        return f"{self.user}@{DOMAIN}"

    @property
    def domain_user(self) -> str:
        return f"{NETBIOS_DOMAIN}\\{self.user}"


def _hex(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def _guid(rng: random.Random) -> str:
    h = _hex(rng, 32)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def internet_ipv4(rng: random.Random) -> str:
    """A client address on the internet, from ranges reserved for documentation/benchmarks."""
    block = rng.random()
    if block < 0.8:
        return f"198.{rng.choice((18, 19))}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
    prefix = rng.choice(("192.0.2", "198.51.100"))
    return f"{prefix}.{rng.randrange(1, 255)}"


def make_people(rng: random.Random, count: int) -> list[Person]:
    people: list[Person] = []
    seen: set[str] = set()
    while len(people) < count:
        user = f"{rng.choice(FIRST_NAMES)}.{rng.choice(LAST_NAMES)}"
        if user in seen:
            continue
        seen.add(user)
        people.append(Person(
            user=user,
            office_ip=f"10.20.{rng.randrange(1, 12)}.{rng.randrange(10, 250)}",
            home_ip=internet_ipv4(rng),
            browser=rng.choice(BROWSERS),
            desktop=rng.choice(("outlook", "outlook", "outlook", "outlook_2016", "mac_outlook")),
            phone=rng.choice(EAS_DEVICES),
            device_id=_hex(rng, 32).upper(),
            mailbox_guid=_guid(rng),
        ))
    return people


@dataclass
class TrafficMix:
    """How much of each kind of traffic one Exchange server sees in one day."""
    outlook_users: int = 22
    phones: int = 14
    owa_sessions_internet: int = 10
    owa_sessions_office: int = 6
    ews_requests: int = 140
    autodiscover_requests: int = 90
    ecp_sessions: int = 1
    health_check_minutes: int = 15
    scanner_requests: int = 18


@dataclass
class DayTraffic:
    """Generates one server-day of ordinary Exchange traffic (unsorted list of requests)."""
    rng: random.Random
    day: date
    people: list[Person]
    mix: TrafficMix = field(default_factory=TrafficMix)
    lb_ips: tuple[str, ...] = ("10.0.0.5", "10.0.0.6")
    loopback: str = "127.0.0.1"

    def _at(self, start_hour: float = 0.0, end_hour: float = 24.0) -> datetime:
        seconds = self.rng.uniform(start_hour * 3600, end_hour * 3600 - 1)
        return datetime(self.day.year, self.day.month, self.day.day) + timedelta(seconds=int(seconds))

    def _office_time(self) -> datetime:
        # Contoso works 08:00-18:00 US Eastern, i.e. 13:00-23:00 UTC in March.
        if self.rng.random() < 0.85:
            return self._at(13, 23)
        return self._at(0, 24)

    def requests(self) -> list[Request]:
        out: list[Request] = []
        out += self._health_checks()
        out += self._managed_availability()
        for person in self.rng.sample(self.people, min(self.mix.outlook_users, len(self.people))):
            out += self._outlook_desktop(person)
        for person in self.rng.sample(self.people, min(self.mix.phones, len(self.people))):
            out += self._activesync(person)
        for _ in range(self.mix.owa_sessions_internet):
            person = self.rng.choice(self.people)
            out += self.owa_session(person, person.home_ip, self._at(0, 24))
        for _ in range(self.mix.owa_sessions_office):
            person = self.rng.choice(self.people)
            out += self.owa_session(person, person.office_ip, self._office_time())
        out += self._ews()
        out += self._autodiscover()
        for _ in range(self.mix.ecp_sessions):
            out += self._ecp_admin()
        out += self._scanners()
        return out

    def _health_checks(self) -> list[Request]:
        out = []
        base = datetime(self.day.year, self.day.month, self.day.day)
        step = self.mix.health_check_minutes * 60
        for tick in range(0, 86400, step):
            lb = self.lb_ips[(tick // step) % len(self.lb_ips)]
            for stem in ("/owa/HealthCheck.htm", "/ecp/HealthCheck.htm", "/EWS/HealthCheck.htm"):
                out.append(Request(
                    at=base + timedelta(seconds=tick + self.rng.randrange(0, 3)), method="GET",
                    stem=stem, client_ip=lb, status=200, sc_bytes=346, cs_bytes=98,
                    time_taken=self.rng.randrange(1, 6), host=MAIL_HOST))
        return out

    def _managed_availability(self) -> list[Request]:
        out = []
        for hour in range(24):
            at = self._at(hour, hour + 1)
            out.append(Request(at=at, method="GET", stem="/owa/", query="", client_ip=self.loopback,
                               user=f"{NETBIOS_DOMAIN}\\HealthMailbox7e2b1a", user_agent=UA["amprobe"],
                               status=200, sc_bytes=28310, time_taken=self.rng.randrange(30, 200),
                               host="localhost"))
            out.append(Request(at=at + timedelta(seconds=1), method="POST",
                               stem="/Microsoft-Server-ActiveSync/Proxy/default.eas",
                               query="Cmd=FolderSync&User=HealthMailbox7e2b1a&DeviceId=AMProbe&DeviceType=AMProbe",
                               client_ip=self.loopback, user=f"{NETBIOS_DOMAIN}\\HealthMailbox7e2b1a",
                               user_agent=UA["amprobe"], status=200, sc_bytes=412,
                               time_taken=self.rng.randrange(20, 120), host="localhost"))
        return out

    def _outlook_desktop(self, p: Person) -> list[Request]:
        out = []
        ua = UA[p.desktop]
        at_home = self.rng.random() < 0.3
        ip = p.home_ip if at_home else p.office_ip
        for _ in range(self.rng.randrange(18, 40)):
            at = self._office_time()
            endpoint = self.rng.random()
            if endpoint < 0.75:
                stem, query = "/mapi/emsmdb/", f"MailboxId={p.mailbox_guid}@{DOMAIN}"
            elif endpoint < 0.9:
                stem, query = "/mapi/nspi/", f"MailboxId={p.mailbox_guid}@{DOMAIN}"
            else:
                stem, query = "/Autodiscover/Autodiscover.xml", ""
            out.append(Request(at=at, method="POST", stem=stem, query=query, user=p.upn,
                               client_ip=ip, user_agent=ua, status=200,
                               sc_bytes=self.rng.randrange(300, 60000), cs_bytes=self.rng.randrange(400, 9000),
                               time_taken=self.rng.choice((15, 31, 46, 62, 125, 234, 1046))))
        return out

    def _activesync(self, p: Person) -> list[Request]:
        out = []
        ua = UA[p.phone]
        device_type = {"iphone_eas": "iPhone", "ipad_eas": "iPad", "samsung_eas": "SAMSUNGSMG973F",
                       "outlook_mobile": "Outlook"}[p.phone]
        for _ in range(self.rng.randrange(12, 30)):
            cmd = self.rng.choice(("Ping", "Ping", "Ping", "Sync", "Sync", "FolderSync", "ItemOperations"))
            ip = p.home_ip if self.rng.random() < 0.7 else p.office_ip
            out.append(Request(
                at=self._at(0, 24), method="POST", stem="/Microsoft-Server-ActiveSync/default.eas",
                query=f"Cmd={cmd}&User={p.user}&DeviceId={p.device_id}&DeviceType={device_type}",
                user=p.domain_user, client_ip=ip, user_agent=ua, status=200,
                sc_bytes=self.rng.randrange(100, 30000), cs_bytes=self.rng.randrange(200, 3000),
                time_taken=(self.rng.randrange(470000, 900000) if cmd == "Ping" else self.rng.randrange(30, 900))))
        return out

    def owa_session(self, p: Person, ip: str, start: datetime, ua_key: str | None = None) -> list[Request]:
        """A browser logging on to OWA: logon page, its resources, the app, a few actions."""
        ua = UA[ua_key or p.browser]
        t = start
        out: list[Request] = []

        def add(method: str, stem: str, query: str = "", status: int = 200, user: str = "",
                referer: str = "", size: int = 0, taken: int = 15) -> None:
            nonlocal t
            out.append(Request(at=t, method=method, stem=stem, query=query, user=user, client_ip=ip,
                               user_agent=ua, referer=referer, status=status,
                               sc_bytes=size or self.rng.randrange(500, 40000),
                               cs_bytes=self.rng.randrange(300, 2000), time_taken=taken))
            t += timedelta(seconds=self.rng.choice((0, 0, 1, 1, 2, 5)))

        logon_query = f"url=https%3a%2f%2f{MAIL_HOST}%2fowa%2f&reason=0"
        logon_page = f"https://{MAIL_HOST}/owa/auth/logon.aspx?{logon_query}"
        add("GET", "/owa/", status=302, size=480, taken=0)
        add("GET", "/owa/auth/logon.aspx", logon_query, taken=31)
        for stem in OWA_LOGON_RESOURCES:
            add("GET", stem, referer=logon_page)
        t += timedelta(seconds=self.rng.randrange(4, 20))
        add("POST", "/owa/auth.owa", status=302, size=650, taken=62)
        add("GET", "/owa/", user=p.domain_user, referer=logon_page, taken=140)
        for stem in OWA_BOOT_RESOURCES:
            add("GET", stem, user=p.domain_user, referer=f"https://{MAIL_HOST}/owa/")
        canary = _hex(self.rng, 32)
        for _ in range(self.rng.randrange(3, 14)):
            action = self.rng.choice(("GetOwaUserConfiguration", "FindItem", "GetItem", "FindConversation",
                                      "GetConversationItems", "CreateItem", "UpdateItem", "GetFolderChangeDigest"))
            add("POST", "/owa/service.svc", f"action={action}&EP=1&ID=-{self.rng.randrange(1, 90)}&AC=1",
                user=p.domain_user, referer=f"https://{MAIL_HOST}/owa/", taken=self.rng.randrange(15, 400))
            t += timedelta(seconds=self.rng.randrange(5, 240))
        add("POST", "/owa/ev.owa2",
            f"ns=PendingRequest&ev=FinishNotificationRequest&UA=0&cid={_guid(self.rng)}&X-OWA-CANARY={canary}",
            user=p.domain_user, taken=self.rng.randrange(20000, 600000))
        if self.rng.random() < 0.3:
            add("GET", "/owa/logoff.owa", user=p.domain_user, status=302, size=410)
        return out

    def _ews(self) -> list[Request]:
        out = []
        for _ in range(self.mix.ews_requests):
            p = self.rng.choice(self.people)
            client = self.rng.choice(("teams", "teams", "mac_mail", "mac_outlook", "ews_client"))
            ip = p.office_ip if client != "teams" else "10.30.0.17"  # Teams calendar service via hybrid
            out.append(Request(at=self._office_time(), method="POST", stem="/EWS/Exchange.asmx",
                               user=p.upn, client_ip=ip, user_agent=UA[client], status=200,
                               sc_bytes=self.rng.randrange(900, 20000), cs_bytes=self.rng.randrange(600, 4000),
                               time_taken=self.rng.randrange(15, 600)))
        return out

    def _autodiscover(self) -> list[Request]:
        out = []
        for _ in range(self.mix.autodiscover_requests):
            p = self.rng.choice(self.people)
            if self.rng.random() < 0.6:
                out.append(Request(at=self._office_time(), method="POST", stem="/Autodiscover/Autodiscover.xml",
                                   user=p.upn, client_ip=p.office_ip, user_agent=UA[p.desktop], status=200,
                                   sc_bytes=self.rng.randrange(2500, 6000), cs_bytes=self.rng.randrange(400, 700),
                                   time_taken=self.rng.randrange(15, 250)))
            else:
                out.append(Request(at=self._at(0, 24), method="GET", stem="/autodiscover/autodiscover.json",
                                   query=f"Email={p.user}%40{DOMAIN}&Protocol=ActiveSync&RedirectCount=1",
                                   client_ip=p.home_ip, user_agent=UA["outlook_mobile"], status=200,
                                   sc_bytes=self.rng.randrange(300, 500), time_taken=self.rng.randrange(5, 40)))
        return out

    def _ecp_admin(self) -> list[Request]:
        out = []
        admin = "CONTOSO\\adm.lee.gray"
        ip = "10.20.1.40"
        t = self._at(14, 21)
        canary = _hex(self.rng, 40)
        steps = [("GET", "/ecp/", "", 302), ("GET", "/ecp/default.aspx", "", 200),
                 ("GET", "/ecp/UsersGroups/Mailboxes.slab", "showhelp=false", 200)]
        steps += [("POST", "/ecp/DDI/DDIService.svc/GetList",
                   f"schema=Mailboxes&msExchEcpCanary={canary}", 200)] * self.rng.randrange(3, 8)
        for method, stem, query, status in steps:
            out.append(Request(at=t, method=method, stem=stem, query=query, user=admin, client_ip=ip,
                               user_agent=UA["edge"], status=status, sc_bytes=self.rng.randrange(700, 90000),
                               time_taken=self.rng.randrange(15, 900)))
            t += timedelta(seconds=self.rng.randrange(1, 90))
        return out

    def _scanners(self) -> list[Request]:
        out = []
        probes = (("GET", "/", 200), ("GET", "/favicon.ico", 200), ("GET", "/.env", 404),
                  ("GET", "/owa/auth/logon.aspx", 200), ("GET", "/robots.txt", 404),
                  ("GET", "/remote/login", 404), ("GET", "/owa/", 302))
        for _ in range(self.mix.scanner_requests):
            method, stem, status = self.rng.choice(probes)
            out.append(Request(at=self._at(0, 24), method=method, stem=stem,
                               client_ip=internet_ipv4(self.rng),
                               user_agent=UA[self.rng.choice(("zgrab", "expanse", "censys"))],
                               status=status, substatus=0, win32=0 if status < 400 else 2,
                               sc_bytes=self.rng.randrange(200, 1500), time_taken=self.rng.randrange(0, 20)))
        return out


def intranet_day(rng: random.Random, day: date, people: list[Person], requests: int) -> list[Request]:
    """A plain IIS intranet site: pages, images, an API. No Exchange path anywhere."""
    pages = ("/", "/default.aspx", "/news/default.aspx", "/hr/holidays.aspx", "/it/helpdesk.aspx",
             "/api/v1/menu", "/api/v1/directory/search")
    assets = ("/css/site.css", "/js/site.min.js", "/js/jquery-3.5.1.min.js", "/images/contoso-logo.png",
              "/images/banner-spring.jpg", "/favicon.ico")
    out = []
    base = datetime(day.year, day.month, day.day)
    for _ in range(requests):
        p = rng.choice(people)
        at = base + timedelta(seconds=int(rng.uniform(13 * 3600, 23 * 3600 - 1) if rng.random() < 0.9
                                          else rng.uniform(0, 86399)))
        if rng.random() < 0.45:
            stem = rng.choice(pages)
            query = f"q={rng.choice(FIRST_NAMES)}" if stem.endswith("search") else ""
            user = p.domain_user
            status = 200 if rng.random() < 0.93 else 401
        else:
            stem, query, user = rng.choice(assets), "", ""
            status = 200 if rng.random() < 0.8 else 304
        out.append(Request(at=at, method="GET", stem=stem, query=query, user=user, client_ip=p.office_ip,
                           user_agent=UA[p.browser], status=status, win32=0,
                           substatus=0 if status != 401 else 2, sc_bytes=rng.randrange(200, 90000),
                           time_taken=rng.randrange(0, 300), port=80, host="intranet.contoso.com"))
    return out
