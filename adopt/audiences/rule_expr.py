"""Rule expressions: parse a rule's condition and rebuild its SQL with bound values.

Data flow: `adopt.audiences.rules.check_rule` parses each rule's ``where``
when the rule is made; `adopt.audiences.rules.evaluate_rules` runs the SQL
rebuilt here, never the planner's text. The grammar is small on purpose::

    expr      := and_expr ("or" and_expr)*
    and_expr  := not_expr ("and" not_expr)*
    not_expr  := "not" not_expr | predicate
    predicate := sum [ cmp sum | ["not"] "in" "(" sum ("," sum)* ")"
                     | ["not"] "between" sum "and" sum | "is" ["not"] "null"
                     | ["not"] ("like" | "ilike") sum ]
    sum       := product (("+" | "-") product)*
    product   := unary (("*" | "/" | "%") unary)*
    unary     := "-" unary | primary ("::" type)*
    primary   := column | function "(" [sum ("," sum)*] ")" | number | 'string'
                 | $param | true | false | null | "(" expr ")"

with ``cmp`` one of ``= != <> < <= > >=``. Numbers and strings become bound
parameters; columns are quoted; a function must be one of `FUNCTIONS` and a
cast type one of `CAST_TYPES`. Anything else (``order by``, ``limit``, a
stray parenthesis, a subquery) is refused naming the offending token.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

FUNCTIONS = frozenset({
    "list_contains", "list_has_any", "list_has_all", "array_contains", "len", "length",
    "lower", "upper", "abs", "round", "floor", "ceil", "coalesce", "contains", "starts_with",
    "ends_with", "least", "greatest",
})
CAST_TYPES = frozenset({
    "integer", "int", "bigint", "double", "float", "real", "decimal", "varchar", "text",
    "date", "timestamp", "boolean",
})
KEYWORDS = frozenset({"and", "or", "not", "in", "between", "is", "null", "true", "false",
                      "like", "ilike"})
COMPARISONS = frozenset({"=", "!=", "<>", "<", "<=", ">", ">="})
ALLOWED = ("columns, $params, numbers, 'strings', = != <> < <= > >=, in (...), between, "
           "is [not] null, like, and/or/not, parentheses")

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<str>'(?:[^']|'')*')
  | (?P<param>\$[A-Za-z_][A-Za-z0-9_]*)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>::|<=|>=|<>|!=|[=<>+\-*/%(),])
""", re.VERBOSE)


class RuleSyntaxError(ValueError):
    """The expression is outside the grammar; the message names the token."""


@dataclass(frozen=True)
class Token:
    kind: str  # num, str, param, name, op, end
    text: str
    pos: int


@dataclass
class Compiled:
    """The rebuilt SQL, its literal values (``$l0``...) and what it names."""

    sql: str
    literals: dict[str, object] = field(default_factory=dict)
    columns: set[str] = field(default_factory=set)
    params: set[str] = field(default_factory=set)


def tokenize(text: str) -> list[Token]:
    """The tokens of `text`; `RuleSyntaxError` at the first character no token starts with."""
    tokens, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise RuleSyntaxError(f"unexpected {text[pos]!r} at character {pos + 1}")
        if m.lastgroup != "ws":
            tokens.append(Token(m.lastgroup, m.group(), pos))
        pos = m.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.i = 0
        self.out = Compiled("")

    # -- helpers --------------------------------------------------------------------------
    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def word(self, *words: str) -> bool:
        return self.tok.kind == "name" and self.tok.text.lower() in words

    def op(self, *ops: str) -> bool:
        return self.tok.kind == "op" and self.tok.text in ops

    def take(self) -> Token:
        tok = self.tok
        self.i += 1
        return tok

    def fail(self, expected: str) -> RuleSyntaxError:
        tok = self.tok
        got = "end of the expression" if tok.kind == "end" else repr(tok.text)
        return RuleSyntaxError(f"unexpected {got} at character {tok.pos + 1} "
                               f"(expected {expected}; allowed: {ALLOWED})")

    def expect_op(self, text: str) -> None:
        if not self.op(text):
            raise self.fail(f"'{text}'")
        self.take()

    def literal(self, value: object) -> str:
        name = f"l{len(self.out.literals)}"
        self.out.literals[name] = value
        return f"${name}"

    # -- grammar --------------------------------------------------------------------------
    def parse(self) -> Compiled:
        sql = self.expr()
        if self.tok.kind != "end":
            raise self.fail("'and', 'or' or the end of the expression")
        self.out.sql = sql
        return self.out

    def expr(self) -> str:
        parts = [self.and_expr()]
        while self.word("or"):
            self.take()
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else "(" + " or ".join(parts) + ")"

    def and_expr(self) -> str:
        parts = [self.not_expr()]
        while self.word("and"):
            self.take()
            parts.append(self.not_expr())
        return parts[0] if len(parts) == 1 else "(" + " and ".join(parts) + ")"

    def not_expr(self) -> str:
        if self.word("not"):
            self.take()
            return f"(not {self.not_expr()})"
        return self.predicate()

    def predicate(self) -> str:
        left = self.sum()
        if self.op(*COMPARISONS):
            cmp = self.take().text
            return f"({left} {cmp} {self.sum()})"
        if self.word("is"):
            self.take()
            negate = self.word("not") and bool(self.take())
            if not self.word("null"):
                raise self.fail("'null'")
            self.take()
            return f"({left} is {'not ' if negate else ''}null)"
        negate = False
        if self.word("not"):
            self.take()
            negate = True
            if not self.word("in", "between", "like", "ilike"):
                raise self.fail("'in', 'between', 'like' or 'ilike' after 'not'")
        neg = "not " if negate else ""
        if self.word("in"):
            self.take()
            self.expect_op("(")
            items = [self.sum()]
            while self.op(","):
                self.take()
                items.append(self.sum())
            self.expect_op(")")
            return f"({left} {neg}in ({', '.join(items)}))"
        if self.word("between"):
            self.take()
            low = self.sum()
            if not self.word("and"):
                raise self.fail("'and' of between")
            self.take()
            return f"({left} {neg}between {low} and {self.sum()})"
        if self.word("like", "ilike"):
            kind = self.take().text.lower()
            return f"({left} {neg}{kind} {self.sum()})"
        return left

    def sum(self) -> str:
        out = self.product()
        while self.op("+", "-"):
            out = f"({out} {self.take().text} {self.product()})"
        return out

    def product(self) -> str:
        out = self.unary()
        while self.op("*", "/", "%"):
            out = f"({out} {self.take().text} {self.unary()})"
        return out

    def unary(self) -> str:
        if self.op("-"):
            self.take()
            return f"(- {self.unary()})"
        out = self.primary()
        while self.op("::"):
            self.take()
            if not (self.tok.kind == "name" and self.tok.text.lower() in CAST_TYPES):
                raise self.fail(f"a type after '::' ({', '.join(sorted(CAST_TYPES))})")
            out = f"cast({out} as {self.take().text.lower()})"
        return out

    def primary(self) -> str:
        tok = self.tok
        if tok.kind == "num":
            self.take()
            number = float(tok.text)
            is_int = re.fullmatch(r"\d+", tok.text) is not None
            return self.literal(int(tok.text) if is_int else number)
        if tok.kind == "str":
            self.take()
            return self.literal(tok.text[1:-1].replace("''", "'"))
        if tok.kind == "param":
            self.take()
            name = tok.text[1:]
            self.out.params.add(name)
            return f"$p_{name}"
        if self.op("("):
            self.take()
            inner = self.expr()
            self.expect_op(")")
            return inner
        if tok.kind == "name":
            word = tok.text.lower()
            if word in ("true", "false", "null"):
                self.take()
                return word
            if word in KEYWORDS:
                raise self.fail("a column, a value or '('")
            self.take()
            if self.op("("):
                if word not in FUNCTIONS:
                    self.i -= 1
                    raise RuleSyntaxError(
                        f"unknown function {tok.text!r} at character {tok.pos + 1} "
                        f"(allowed: {', '.join(sorted(FUNCTIONS))})")
                self.take()
                args = []
                if not self.op(")"):
                    args.append(self.sum())
                    while self.op(","):
                        self.take()
                        args.append(self.sum())
                self.expect_op(")")
                return f"{word}({', '.join(args)})"
            self.out.columns.add(tok.text)
            return '"' + tok.text + '"'
        raise self.fail("a column, a value or '('")


def compile_where(text: str) -> Compiled:
    """Parse a rule's condition and rebuild it as SQL with every value bound.

    Parameters
    ----------
    text : str
        The rule's ``where``.

    Returns
    -------
    Compiled
        ``sql`` uses ``$p_<name>`` for the rule's params and ``$l<i>`` for
        its literals (values in ``literals``); ``columns`` and ``params`` are
        the names it uses.

    Raises
    ------
    RuleSyntaxError
        Outside the grammar; the message names the offending token.
    """
    return _Parser(text).parse()
