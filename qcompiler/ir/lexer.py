"""Tokens of the textual IR (each with the line and column where it starts) and the
cursor the parser reads them with."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Optional

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
        if kind in ("string", "symbol") and m.group().endswith('"'):
            _check_escapes(m.group()[m.group().index('"'):], line, pos - line_start + 1, source)
        if kind not in ("comment", "space"):
            tokens.append(Token(kind, m.group(), line, pos - line_start + 1))
        newlines = m.group().count("\n")
        if newlines:
            line += newlines
            line_start = m.start() + m.group().rindex("\n") + 1
        pos = m.end()
    tokens.append(Token("eof", "", line, pos - line_start + 1))
    return tokens


def _check_escapes(literal: str, line: int, column: int, source: str) -> None:
    """String tokens are JSON strings; a bad escape is a parse error here, where the
    position is known, so the JSON decoding of a token later cannot fail."""
    try:
        json.loads(literal)
    except json.JSONDecodeError as e:
        raise ParseError(f"bad string literal: {e.msg}", line, column + e.pos, source) from None


class TokenCursor:
    """A position in the token list with the helpers a recursive-descent parser needs."""

    def __init__(self, text: str, source: str):
        self.tokens = tokenize(text, source)
        self.pos = 0
        self.source = source

    @property
    def tok(self) -> Token:
        return self.tokens[self.pos]

    def next(self) -> Token:
        t = self.tokens[self.pos]
        if t.kind != "eof":
            self.pos += 1
        return t

    def error(self, message: str, at: Optional[Token] = None) -> ParseError:
        at = at or self.tok
        return ParseError(message, at.line, at.column, self.source)

    def at(self, text: str) -> bool:
        return self.tok.kind in ("punct", "arrow", "word") and self.tok.text == text

    def accept(self, text: str) -> bool:
        if self.at(text):
            self.next()
            return True
        return False

    def expect(self, text: str, context: str) -> Token:
        if not self.at(text):
            raise self.error(f"expected '{text}' {context}, got {self.tok.describe()}")
        return self.next()

    def expect_kind(self, kind: str, what: str, context: str) -> Token:
        if self.tok.kind != kind:
            raise self.error(f"expected {what} {context}, got {self.tok.describe()}")
        return self.next()

    def separated(self, item, close: str, context: str) -> list:
        """`item (',' item)*` up to (and consuming) `close`; the list may be empty."""
        out = []
        if self.accept(close):
            return out
        while True:
            out.append(item())
            if self.accept(close):
                return out
            if not self.accept(","):
                raise self.error(f"expected ',' or '{close}' {context}, got {self.tok.describe()}")

    def name(self, what: str, context: str) -> str:
        """A bare word or a JSON string (keys, op names)."""
        if self.tok.kind == "string":
            return json.loads(self.next().text)
        return self.expect_kind("word", what, context).text

    def integer(self, context: str) -> int:
        return int(self.expect_kind("int", "an integer", context).text)
