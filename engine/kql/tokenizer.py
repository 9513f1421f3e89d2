"""Splits KQL text into tokens with 1-based line and column positions.

KQL has a few lexical quirks handled here rather than in the parser: operator names with a
hyphen (``project-away``, ``mv-expand``), negated string operators written as one word
(``!contains``, ``!in~``), timespan literals (``1h``, ``30s``) and the literal forms whose
contents are not KQL tokens (``datetime(2021-03-02 08:00)``, ``timespan(1.02:03:04)``).
"""
from __future__ import annotations

from dataclasses import dataclass

from .errors import KqlError

# Tabular operator names that contain a hyphen. Anywhere else `a-b` is a subtraction.
HYPHENATED = {
    "project-away", "project-keep", "project-rename", "project-reorder", "project-smart",
    "mv-expand", "mv-apply", "make-series", "top-nested", "top-hitters", "parse-where",
    "parse-kv", "partition-by", "scan-join",
}

# Operators that may be prefixed by `!` as a single token (`!contains`, `!in~`...).
NEGATABLE = {
    "contains", "contains_cs", "has", "has_cs", "hasprefix", "hasprefix_cs", "hassuffix",
    "hassuffix_cs", "startswith", "startswith_cs", "endswith", "endswith_cs", "in", "in~",
    "between", "has_any", "has_all",
}

TIMESPAN_UNITS = {
    "d": 86_400_000_000, "day": 86_400_000_000, "days": 86_400_000_000,
    "h": 3_600_000_000, "hr": 3_600_000_000, "hrs": 3_600_000_000, "hour": 3_600_000_000,
    "hours": 3_600_000_000,
    "m": 60_000_000, "min": 60_000_000, "minute": 60_000_000, "minutes": 60_000_000,
    "s": 1_000_000, "sec": 1_000_000, "second": 1_000_000, "seconds": 1_000_000,
    "ms": 1_000, "milli": 1_000, "millis": 1_000, "millisecond": 1_000, "milliseconds": 1_000,
    "microsecond": 1, "microseconds": 1,
    "tick": 0.1, "ticks": 0.1,
}

_PUNCT = ["..", "==", "!=", "<>", "<=", ">=", "=~", "!~", "|", "(", ")", "[", "]", "{", "}",
          ",", ";", ".", "=", "<", ">", "+", "-", "*", "/", "%", ":", "!", "~", "$", "@"]


@dataclass(frozen=True)
class Token:
    kind: str  # IDENT | STRING | INT | REAL | TIMESPAN | RAWLIT | OP | EOF
    value: object
    line: int
    column: int
    text: str = ""

    def is_op(self, *ops: str) -> bool:
        return self.kind == "OP" and self.value in ops

    def is_word(self, *words: str) -> bool:
        return self.kind == "IDENT" and self.value in words


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.line = 1
        self.line_start = 0

    def where(self, pos: int | None = None) -> tuple[int, int]:
        pos = self.pos if pos is None else pos
        line = self.text.count("\n", 0, pos) + 1
        start = self.text.rfind("\n", 0, pos) + 1
        return line, pos - start + 1

    def error(self, message: str, pos: int | None = None) -> KqlError:
        line, col = self.where(pos)
        return KqlError(message, line, col)


def _is_ident_start(ch: str) -> bool:
    return ch.isalpha() or ch == "_"


def _is_ident_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def tokenize(text: str) -> list[Token]:
    s = _Scanner(text)
    tokens: list[Token] = []
    n = len(text)
    while True:
        # skip whitespace and // comments
        while s.pos < n:
            ch = text[s.pos]
            if ch.isspace():
                s.pos += 1
            elif text.startswith("//", s.pos):
                end = text.find("\n", s.pos)
                s.pos = n if end < 0 else end
            else:
                break
        if s.pos >= n:
            line, col = s.where()
            tokens.append(Token("EOF", None, line, col))
            return tokens
        start = s.pos
        line, col = s.where()
        ch = text[s.pos]

        def add(kind: str, value: object) -> None:
            tokens.append(Token(kind, value, line, col, text[start:s.pos]))

        # strings (with optional h/H obfuscation and @ verbatim prefixes)
        prefix_len = 0
        verbatim = False
        if ch in "hH" and s.pos + 1 < n and text[s.pos + 1] in "'\"@":
            prefix_len = 1
        if s.pos + prefix_len < n and text[s.pos + prefix_len] == "@" and \
                s.pos + prefix_len + 1 < n and text[s.pos + prefix_len + 1] in "'\"":
            prefix_len += 1
            verbatim = True
        q = text[s.pos + prefix_len] if s.pos + prefix_len < n else ""
        if q in "'\"" and (prefix_len or ch in "'\""):
            s.pos += prefix_len
            add("STRING", _read_string(s, verbatim))
            continue
        if text.startswith("```", s.pos) or text.startswith("~~~", s.pos):
            fence = text[s.pos:s.pos + 3]
            end = text.find(fence, s.pos + 3)
            if end < 0:
                raise s.error("unterminated multi-line string")
            value = text[s.pos + 3:end]
            s.pos = end + 3
            add("STRING", value)
            continue
        if ch.isdigit() or (ch == "." and s.pos + 1 < n and text[s.pos + 1].isdigit()
                            and not text.startswith("..", s.pos)):
            _read_number(s, tokens, line, col)
            continue
        if _is_ident_start(ch):
            while s.pos < n and _is_ident_char(text[s.pos]):
                s.pos += 1
            word = text[start:s.pos]
            # project-away, mv-expand ...
            if s.pos < n and text[s.pos] == "-":
                j = s.pos + 1
                while j < n and _is_ident_char(text[j]):
                    j += 1
                if text[start:j] in HYPHENATED:
                    s.pos = j
                    word = text[start:j]
            if word == "in" and s.pos < n and text[s.pos] == "~":
                s.pos += 1
                add("OP", "in~")
                continue
            if word in ("datetime", "timespan", "time") and _next_nonspace(text, s.pos) == "(":
                # the literal's contents are not KQL tokens (2021-03-02 08:00, 1.02:03:04)
                open_at = text.index("(", s.pos)
                close = text.find(")", open_at)
                if close < 0:
                    raise s.error(f"unterminated {word}( literal")
                s.pos = close + 1
                add("RAWLIT", (word, text[open_at + 1:close].strip()))
                continue
            add("IDENT", word)
            continue
        if ch == "!":
            j = s.pos + 1
            while j < n and _is_ident_char(text[j]):
                j += 1
            word = text[s.pos + 1:j]
            if word == "in" and j < n and text[j] == "~":
                word, j = "in~", j + 1
            if word in NEGATABLE:
                s.pos = j
                add("OP", "!" + word)
                continue
        for p in _PUNCT:
            if text.startswith(p, s.pos):
                s.pos += len(p)
                add("OP", p)
                break
        else:
            raise s.error(f"unexpected character {ch!r}")


def _next_nonspace(text: str, pos: int) -> str:
    while pos < len(text) and text[pos] in " \t":
        pos += 1
    return text[pos] if pos < len(text) else ""


_ESCAPES = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "t": "\t", "r": "\r", "0": "\0"}


def _read_string(s: _Scanner, verbatim: bool) -> str:
    text = s.text
    quote = text[s.pos]
    s.pos += 1
    out: list[str] = []
    start = s.pos - 1
    while True:
        if s.pos >= len(text) or text[s.pos] == "\n":
            raise s.error("unterminated string literal", start)
        ch = text[s.pos]
        if ch == quote:
            if verbatim and text.startswith(quote * 2, s.pos):
                out.append(quote)
                s.pos += 2
                continue
            s.pos += 1
            return "".join(out)
        if ch == "\\" and not verbatim:
            nxt = text[s.pos + 1] if s.pos + 1 < len(text) else ""
            if nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
                s.pos += 2
                continue
            if nxt == "u" and s.pos + 6 <= len(text):
                out.append(chr(int(text[s.pos + 2:s.pos + 6], 16)))
                s.pos += 6
                continue
            raise s.error(f"unsupported escape sequence \\{nxt} in string literal")
        out.append(ch)
        s.pos += 1


def _read_number(s: _Scanner, tokens: list[Token], line: int, col: int) -> None:
    text, n, start = s.text, len(s.text), s.pos
    if text.startswith(("0x", "0X"), s.pos):
        s.pos += 2
        while s.pos < n and text[s.pos] in "0123456789abcdefABCDEF":
            s.pos += 1
        tokens.append(Token("INT", int(text[start + 2:s.pos], 16), line, col, text[start:s.pos]))
        return
    while s.pos < n and text[s.pos].isdigit():
        s.pos += 1
    is_real = False
    if s.pos < n and text[s.pos] == "." and not text.startswith("..", s.pos):
        if s.pos + 1 < n and text[s.pos + 1].isdigit():
            is_real = True
            s.pos += 1
            while s.pos < n and text[s.pos].isdigit():
                s.pos += 1
    if s.pos < n and text[s.pos] in "eE" and s.pos + 1 < n and (
            text[s.pos + 1].isdigit() or text[s.pos + 1] in "+-"):
        is_real = True
        s.pos += 2
        while s.pos < n and text[s.pos].isdigit():
            s.pos += 1
    number_text = text[start:s.pos]
    # a unit suffix makes it a timespan (1h, 30s, 100ms, 1.5d)
    j = s.pos
    while j < n and text[j].isalpha():
        j += 1
    unit = text[s.pos:j]
    if unit:
        if unit.lower() not in TIMESPAN_UNITS or (j < n and _is_ident_char(text[j])):
            raise s.error(f"unknown number suffix {unit!r}", start)
        s.pos = j
        micros = float(number_text) * TIMESPAN_UNITS[unit.lower()]
        tokens.append(Token("TIMESPAN", round(micros), line, col, text[start:s.pos]))
        return
    if is_real:
        tokens.append(Token("REAL", float(number_text), line, col, number_text))
    else:
        tokens.append(Token("INT", int(number_text), line, col, number_text))
