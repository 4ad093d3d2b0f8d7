"""Recursive-descent PQL parser: text -> :class:`~relgraph.query.ast.Query`.

Grammar (keywords case-insensitive, names case-sensitive)::

    query     := PREDICT target FOR EACH name '.' name [WHERE cond] [ASSUMING cond] EOF
    target    := operand [compare | IS [NOT] NULL] [RANK TOP integer]
               | '(' cond ')'                        -- a compound binary target
    operand   := AGG '(' name '.' (name | '*') [VIA role] [WHERE cond] ',' int ',' int ',' unit ')'
               | name '.' name
    role      := name ['.' name]                     -- the foreign key naming the entity (VIA may
                                                     -- also follow the WHERE condition)
    cond      := conj (OR conj)*
    conj      := neg (AND neg)*
    neg       := NOT neg | '(' cond ')' | operand (compare | IS [NOT] NULL)
    compare   := ('=' | '!=' | '<>' | '<' | '<=' | '>' | '>=') literal
    literal   := ['-'] number | string | TRUE | FALSE | NULL
"""

from __future__ import annotations

from relgraph.errors import QueryError
from relgraph.query.ast import (
    AGGREGATES,
    RESERVED,
    UNITS,
    Aggregate,
    And,
    ColumnRef,
    Comparison,
    Condition,
    IsNull,
    Literal,
    Not,
    Operand,
    Or,
    Query,
    Rank,
    Role,
    Target,
    Window,
)
from relgraph.query.tokenizer import Token, caret_message, tokenize

_OPS = {"=": "=", "!=": "!=", "<>": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


def parse(text: str) -> Query:
    """Parse one PQL query.

    Raises:
        QueryError: the text is not PQL; the message names line and column, shows the query
            with a caret under the offending token and lists what was expected there.
    """
    return _Parser(text).query()


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.pos = 0

    # -- token helpers -------------------------------------------------------------------
    @property
    def tok(self) -> Token:
        return self.tokens[self.pos]

    def advance(self) -> Token:
        token = self.tokens[self.pos]
        if token.kind != "EOF":
            self.pos += 1
        return token

    def fail(self, expected: str, token: Token | None = None) -> QueryError:
        token = token or self.tok
        summary = f"PQL syntax error: expected {expected}, found {token.describe()}"
        return QueryError(caret_message(self.text, token.offset, summary))

    def at_keyword(self, *words: str) -> bool:
        return self.tok.kind == "IDENT" and self.tok.value.upper() in words

    def keyword(self, word: str) -> Token:
        if not self.at_keyword(word):
            raise self.fail(word)
        return self.advance()

    def punct(self, char: str) -> Token:
        if not (self.tok.kind == "PUNCT" and self.tok.value == char):
            raise self.fail(f"'{char}'")
        return self.advance()

    def at_punct(self, char: str) -> bool:
        return self.tok.kind == "PUNCT" and self.tok.value == char

    def name(self, what: str, after_dot: bool = False) -> str:
        token = self.tok
        # After a dot any word is a column name (results.rank); elsewhere keywords are reserved.
        if token.kind == "QIDENT" or (
            token.kind == "IDENT" and (after_dot or token.value.upper() not in RESERVED)
        ):
            self.advance()
            return token.value
        raise self.fail(what)

    # -- grammar -------------------------------------------------------------------------
    def query(self) -> Query:
        self.keyword("PREDICT")
        target = self.target()
        self.keyword("FOR")
        self.keyword("EACH")
        table = self.name("an entity table name")
        self.punct(".")
        key = self.name("the entity table's primary key column", after_dot=True)
        where = assuming = None
        if self.at_keyword("WHERE"):
            self.advance()
            where = self.condition()
        if self.at_keyword("ASSUMING"):
            self.advance()
            assuming = self.condition()
        if self.tok.kind != "EOF":
            if assuming is not None:
                raise self.fail("AND, OR or end of query")
            raise self.fail(
                "AND, OR, ASSUMING or end of query"
                if where is not None
                else "WHERE, ASSUMING or end of query"
            )
        return Query(target, ColumnRef(table, key), where, assuming)

    def target(self) -> Target:
        if self.at_punct("("):
            # A parenthesised condition (e.g. activity in one table OR another): a binary target.
            self.advance()
            condition = self.condition()
            self.punct(")")
            if not self.at_keyword("FOR"):
                raise self.fail("FOR EACH")
            return condition
        operand = self.operand()
        target: Target = operand
        if self.tok.kind == "OP":
            target = Comparison(operand, _OPS[self.advance().value], self.literal())
        elif self.at_keyword("IS"):
            target = self.is_null(operand)
        if self.at_keyword("RANK"):
            rank_token = self.advance()
            if not (isinstance(target, Aggregate) and target.func == "LIST_DISTINCT"):
                raise QueryError(
                    caret_message(
                        self.text,
                        rank_token.offset,
                        "RANK TOP k needs a LIST_DISTINCT(table.foreign_key, start, end, unit) target "
                        "without comparison",
                    )
                )
            self.keyword("TOP")
            target = Rank(target, self.integer("a positive integer k", positive=True))
        elif isinstance(target, Aggregate) and target.func == "LIST_DISTINCT":
            raise self.fail("RANK TOP k after a LIST_DISTINCT target")
        if not self.at_keyword("FOR"):
            raise self.fail(
                "FOR EACH"
                if isinstance(target, (Comparison, IsNull, Rank))
                else ("a comparison, RANK TOP k or FOR EACH")
            )
        return target

    def operand(self) -> Operand:
        token = self.tok
        nxt = self.tokens[self.pos + 1] if token.kind != "EOF" else token
        if token.kind == "IDENT" and nxt.kind == "PUNCT" and nxt.value == "(":
            if token.value.upper() not in AGGREGATES:
                raise self.fail("an aggregate (" + ", ".join(AGGREGATES) + ")")
            return self.aggregate()
        table = self.name("an aggregate or table.column")
        self.punct(".")
        return ColumnRef(table, self.name("a column name", after_dot=True))

    def aggregate(self) -> Aggregate:
        func = self.advance().value.upper()
        self.punct("(")
        table = self.name("a table name")
        self.punct(".")
        if self.at_punct("*"):
            self.advance()
            column = ColumnRef(table, None)
        else:
            column = ColumnRef(table, self.name("a column name or *", after_dot=True))
        where: Condition | None = None
        via: Role | None = None
        while self.at_keyword("VIA", "WHERE"):
            keyword = self.tok
            if keyword.value.upper() == "VIA":
                if via is not None:
                    raise QueryError(
                        caret_message(self.text, keyword.offset, "one VIA per aggregate: an aggregate counts one role or all")
                    )
                self.advance()
                via = self.role(table)
            else:
                if where is not None:
                    raise self.fail("AND, OR, VIA or ','")
                self.advance()
                where = self.condition()
        if not self.at_punct(","):
            options = [word for word, seen in (("VIA", via), ("WHERE", where)) if seen is None]
            raise self.fail(", ".join(options) + " or ',' (then the window)" if options else "',' (then the window)")
        self.advance()
        start = self.integer("the window start (an integer)")
        self.punct(",")
        end = self.integer("the window end (an integer)")
        self.punct(",")
        unit_token = self.tok
        if not (unit_token.kind == "IDENT" and unit_token.value.lower() in UNITS):
            raise self.fail("a time unit (" + " | ".join(UNITS) + ")")
        self.advance()
        self.punct(")")
        return Aggregate(func, column, Window(start, end, unit_token.value.lower()), where, via)

    def role(self, table: str) -> Role:
        first = self.name(f"a role after VIA: a foreign-key column, e.g. VIA {table}.<column>")
        if not self.at_punct("."):
            return Role(first)
        self.advance()
        return Role(self.name("the role's column name", after_dot=True), first)

    def integer(self, what: str, positive: bool = False) -> int:
        negative = False
        if not positive and self.at_punct("-"):
            self.advance()
            negative = True
        token = self.tok
        if token.kind != "NUMBER" or not token.value.isdigit():
            raise self.fail(what)
        self.advance()
        value = int(token.value)
        if positive and value < 1:
            raise self.fail(what, token)
        return -value if negative else value

    def literal(self) -> Literal:
        token = self.tok
        if self.at_punct("-"):
            self.advance()
            number = self.tok
            if number.kind != "NUMBER":
                raise self.fail("a number after '-'")
            self.advance()
            return Literal(-_number(number.value))
        if token.kind == "NUMBER":
            self.advance()
            return Literal(_number(token.value))
        if token.kind == "STRING":
            self.advance()
            return Literal(token.value)
        if self.at_keyword("TRUE", "FALSE", "NULL"):
            self.advance()
            return Literal({"TRUE": True, "FALSE": False, "NULL": None}[token.value.upper()])
        raise self.fail("a literal (number, 'string', TRUE, FALSE or NULL)")

    def is_null(self, operand: Operand) -> IsNull:
        self.keyword("IS")
        negated = False
        if self.at_keyword("NOT"):
            self.advance()
            negated = True
        self.keyword("NULL")
        return IsNull(operand, negated)

    def condition(self) -> Condition:
        items = [self.conjunction()]
        while self.at_keyword("OR"):
            self.advance()
            items.append(self.conjunction())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def conjunction(self) -> Condition:
        items = [self.negation()]
        while self.at_keyword("AND"):
            self.advance()
            items.append(self.negation())
        return items[0] if len(items) == 1 else And(tuple(items))

    def negation(self) -> Condition:
        if self.at_keyword("NOT"):
            self.advance()
            return Not(self.negation())
        if self.at_punct("("):
            self.advance()
            inner = self.condition()
            self.punct(")")
            return inner
        token = self.tok
        if not (token.kind == "QIDENT" or (token.kind == "IDENT" and token.value.upper() not in RESERVED)):
            raise self.fail("a condition (an aggregate or table.column compared to a literal, NOT, or '(')")
        operand = self.operand()
        if self.tok.kind == "OP":
            return Comparison(operand, _OPS[self.advance().value], self.literal())
        if self.at_keyword("IS"):
            return self.is_null(operand)
        raise self.fail("a comparison operator (= != < <= > >=) or IS [NOT] NULL")


def _number(text: str) -> int | float:
    return int(text) if text.isdigit() else float(text)
