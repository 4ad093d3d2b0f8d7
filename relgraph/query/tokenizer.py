"""PQL tokenizer: query text -> tokens that remember their line and column.

Token kinds:

- ``IDENT``: a bare word (``drivers``, ``COUNT``, ``days``, ``PREDICT``); keywords are bare
  words matched case-insensitively by the parser, so ``results.rank`` still works.
- ``QIDENT``: a double-quoted identifier (``"order items"``, ``""`` escapes a quote); never a keyword.
- ``NUMBER``: ``12``, ``3.5``, ``1e3`` (no sign: the parser handles ``-``).
- ``STRING``: a single-quoted string (``''`` escapes a quote).
- ``OP``: ``= != <> < <= > >=``; ``PUNCT``: ``( ) , . * -``; ``EOF`` ends every stream.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from relgraph.errors import QueryError


@dataclass(frozen=True)
class Token:
    """One token: ``kind``, its ``value`` (unquoted for QIDENT/STRING), 0-based ``offset``,
    1-based ``line`` and ``column`` in the query text."""

    kind: str
    value: str
    offset: int
    line: int
    column: int

    def describe(self) -> str:
        """How the token reads in an error message."""
        if self.kind == "EOF":
            return "end of query"
        if self.kind == "STRING":
            return f"'{self.value}'"
        if self.kind == "QIDENT":
            return f'"{self.value}"'
        return f"'{self.value}'"


_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<comment>--[^\n]*)
  | (?P<number>(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<qident>"(?:[^"]|"")*")
  | (?P<string>'(?:[^']|'')*')
  | (?P<op><=|>=|!=|<>|=|<|>)
  | (?P<punct>[(),.*\-])
    """,
    re.VERBOSE,
)


def caret_message(text: str, offset: int, summary: str) -> str:
    """``summary`` (naming line and column) followed by the query line and a caret under ``offset``."""
    line_no = text.count("\n", 0, offset) + 1
    line_start = text.rfind("\n", 0, offset) + 1
    line_end = text.find("\n", offset)
    line_text = text[line_start : len(text) if line_end < 0 else line_end]
    column = offset - line_start + 1
    return f"{summary} (line {line_no}, column {column})\n  {line_text}\n  {' ' * (column - 1)}^"


def tokenize(text: str) -> list[Token]:
    """Split PQL ``text`` into tokens, the last one ``EOF``.

    Raises:
        QueryError: an unterminated string or identifier, or a character PQL does not use.
    """
    tokens: list[Token] = []
    pos = 0
    line, line_start = 1, 0
    while pos < len(text):
        match = _TOKEN_RE.match(text, pos)
        if match is None:
            char = text[pos]
            if char in "'\"":
                what = "string" if char == "'" else "quoted identifier"
                raise QueryError(caret_message(text, pos, f"unterminated {what}: close it with {char}"))
            raise QueryError(caret_message(text, pos, f"unexpected character {char!r}"))
        kind = match.lastgroup
        raw = match.group()
        assert kind is not None
        if kind not in ("ws", "comment"):
            value = raw
            if kind == "qident":
                value = raw[1:-1].replace('""', '"')
            elif kind == "string":
                value = raw[1:-1].replace("''", "'")
            tokens.append(Token(kind.upper(), value, pos, line, pos - line_start + 1))
        newlines = raw.count("\n")
        if newlines:
            line += newlines
            line_start = pos + raw.rfind("\n") + 1
        pos = match.end()
    tokens.append(Token("EOF", "", len(text), line, len(text) - line_start + 1))
    return tokens
