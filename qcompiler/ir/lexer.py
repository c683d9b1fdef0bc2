"""Tokens of the textual IR, each with the line and column where it starts."""
from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import ParseError

# kind -> pattern; tried in this order at each position
_TOKENS = [
    ("comment", r"//[^\n]*"),
    ("space", r"[ \t\r\n]+"),
    ("value", r"%[A-Za-z0-9_.$-]+"),
    ("symbol", r'@(?:[A-Za-z_][A-Za-z0-9_.$]*|"(?:[^"\\\n]|\\.)*")'),
    ("string", r'"(?:[^"\\\n]|\\.)*"'),
    ("float", r"-?(?:\d+\.\d*(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+)|-inf\b"),
    ("int", r"-?\d+"),
    ("word", r"[A-Za-z_][A-Za-z0-9_.$]*"),
    ("arrow", r"->"),
    ("punct", r"[()\[\]{}<>,=:?]"),
]
_MASTER = re.compile("|".join(f"(?P<{k}>{p})" for k, p in _TOKENS))


@dataclass(frozen=True)
class Token:
    kind: str  # value | symbol | string | float | int | word | arrow | punct | eof
    text: str
    line: int
    column: int

    def describe(self) -> str:
        return "end of input" if self.kind == "eof" else repr(self.text)


def tokenize(text: str, source: str = "<qir>") -> list:
    tokens, pos, line, line_start = [], 0, 1, 0
    while pos < len(text):
        m = _MASTER.match(text, pos)
        if m is None:
            column = pos - line_start + 1
            if text[pos] == '"':
                raise ParseError("unterminated string literal", line, column, source)
            raise ParseError(f"unexpected character {text[pos]!r}", line, column, source)
        kind = m.lastgroup
        if kind not in ("comment", "space"):
            tokens.append(Token(kind, m.group(), line, pos - line_start + 1))
        newlines = m.group().count("\n")
        if newlines:
            line += newlines
            line_start = m.start() + m.group().rindex("\n") + 1
        pos = m.end()
    tokens.append(Token("eof", "", line, pos - line_start + 1))
    return tokens
