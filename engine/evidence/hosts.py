"""Which server wrote a log file: the ``Computer`` column for raw IIS W3C files.

Raw W3C lines do not carry the server's name the way Sentinel's agent reports it, so it is
derived, first match wins (SPEC.md, "From evidence files to the two tables"):

1. the user's host map file (a folder or short name -> FQDN);
2. the ``s-computername`` field, when the layout logs it (done per row in SQL, see w3c.py);
3. the nearest folder above the file whose name is not an IIS/Windows path component.

A default DNS domain turns short names (no dot) into FQDNs.
"""
from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePath

# Folder names IIS and Windows put between a server's name and its log files. Compared
# case-insensitively. ``W3SVC<n>``, ``FTPSVC<n>``, ``SMTPSVC<n>``, drive letters (``C``,
# ``C$``, ``C:``) and ``HTTPERR`` are matched by pattern below.
_IIS_COMPONENTS = {
    "logfiles", "logs", "log", "inetpub", "iis", "w3svc", "httperr", "windows", "system32",
    "program files", "microsoft", "exchange server", "v15", "logging", "advancedlogs",
    "advanced logs", "iislogs", "iis logs", "wwwroot",
}
_COMPONENT_PATTERNS = (
    re.compile(r"^(w3svc|ftpsvc|smtpsvc|nntpsvc|msftpsvc)\d*$", re.I),
    re.compile(r"^[a-z][:$]?$", re.I),  # drive letters: C, C$, C:
)


def is_iis_component(name: str) -> bool:
    """True for folder names that say nothing about which server wrote the logs."""
    lowered = name.strip().lower()
    if not lowered or lowered in _IIS_COMPONENTS:
        return True
    return any(p.match(lowered) for p in _COMPONENT_PATTERNS)


@dataclass
class HostMap:
    """User-supplied names: folder or short host name (case-insensitive) -> Computer."""

    entries: dict[str, str] = field(default_factory=dict)

    def lookup(self, name: str) -> str | None:
        return self.entries.get(name.strip().lower())

    @classmethod
    def load(cls, path: Path) -> "HostMap":
        """Read a host map. Accepted forms, chosen by content:

        - JSON object ``{"name-or-folder": "fqdn", ...}``;
        - CSV with a header containing ``name`` and ``computer`` (or ``fqdn``) columns;
        - plain text: ``name FQDN`` (or ``name=FQDN`` / ``name,FQDN``) per line, ``#`` comments.
        """
        text = path.read_text(encoding="utf-8-sig", errors="replace")
        entries: dict[str, str] = {}
        stripped = text.lstrip()
        if stripped.startswith("{"):
            data = json.loads(stripped)
            if not isinstance(data, dict):
                raise ValueError(f"{path}: a JSON host map must be an object of name -> FQDN")
            for key, value in data.items():
                entries[str(key).strip().lower()] = str(value).strip()
            return cls(entries)
        first = stripped.splitlines()[0].lower() if stripped else ""
        if "," in first and "name" in first and ("computer" in first or "fqdn" in first):
            reader = csv.DictReader(io.StringIO(stripped))
            fields = {f.lower(): f for f in reader.fieldnames or []}
            target = fields.get("computer") or fields.get("fqdn")
            for row in reader:
                name = (row.get(fields["name"]) or "").strip()
                value = (row.get(target) or "").strip() if target else ""
                if name and value:
                    entries[name.lower()] = value
            return cls(entries)
        for number, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            parts = re.split(r"\s*[=,]\s*|\s+", line, maxsplit=1)
            if len(parts) != 2 or not parts[0] or not parts[1]:
                raise ValueError(f"{path}:{number}: expected 'name FQDN', got {raw!r}")
            entries[parts[0].lower()] = parts[1].strip()
        return cls(entries)


def qualify(name: str, default_domain: str | None) -> str:
    """``EXCH01`` + ``contoso.com`` -> ``EXCH01.contoso.com``; names with a dot are kept."""
    if not name or not default_domain or "." in name:
        return name
    return f"{name}.{default_domain.strip('.')}"


@dataclass(frozen=True)
class FileHost:
    """The Computer a file's rows get when no ``s-computername`` overrides it."""

    computer: str
    forced: bool  # True when the host map named the folder/file: s-computername is ignored
    source: str  # "host-map" | "folder" | "none"


def host_for_file(path: Path, root: Path | None, host_map: HostMap | None,
                  default_domain: str | None) -> FileHost:
    """Derive the Computer for a file from the host map and its folder names.

    Folders are searched from the file upwards, stopping at the evidence root's parent so
    that names outside what the user pointed at (e.g. ``/home/alice``) are never used.
    """
    pure = PurePath(path)
    folders = list(pure.parents)
    if root is not None:
        stop = PurePath(root).parent
        folders = [f for f in folders if f != stop and stop in f.parents]
    names = [f.name for f in folders if f.name]
    if host_map is not None:
        for candidate in [pure.name, *names]:
            mapped = host_map.lookup(candidate)
            if mapped:
                return FileHost(mapped, True, "host-map")
    for name in names:
        if not is_iis_component(name):
            return FileHost(qualify(name, default_domain), False, "folder")
    return FileHost("", False, "none")
