"""Rule segments: a planner's SQL conditions over ``user_profiles``, with bound parameters.

The other way (besides k-means) the segment stage builds audiences. A rule is
a name, a boolean SQL expression over ``user_profiles`` columns, and the
values it uses as named parameters, e.g. in a TOML file::

    exclusive = false            # optional; true: a user joins only the first rule matching

    [[segment]]
    name = "runners"
    where = "list_contains(top_categories, $cat) and monetary >= $min_spend"
    params = { cat = "sports", min_spend = 50 }

Values are bound by DuckDB, never written into the SQL text. The expression
is parsed (`adopt.audiences.rule_expr`: columns, values, comparisons, ``in``,
``between``, ``is [not] null``, ``like``, ``and``/``or``/``not``, a few
functions) and DuckDB runs the SQL rebuilt from the parse, with every literal
bound too; anything outside that grammar (``order by``, ``limit``, a stray
parenthesis), ``;``, comments, statement keywords, a column user_profiles
lacks, a ``$name`` missing from params or a param not used is refused naming
the rule. `evaluate_rules` fills a temp table of (segment, user_id) that
:mod:`adopt.audiences.segment` describes and stores.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from adopt.audiences.rule_expr import RuleSyntaxError, compile_where
from adopt.exceptions import InputError

MEMBERS_TABLE = "_adopt_rule_members"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
_PARAM = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)(?![A-Za-z0-9_$])")
_DOLLAR = re.compile(r"\$")
_FORBIDDEN = re.compile(
    r"\b(select|from|insert|update|delete|drop|create|alter|attach|detach|copy|pragma|"
    r"install|load|call|export|import|set|reset|begin|commit|rollback|checkpoint|vacuum|"
    r"with|union|intersect|except|use|describe|summarize|pivot|unpivot|table|truncate|"
    r"grant|execute|prepare|deallocate|explain)\b",
    re.IGNORECASE,
)
_RULE_KEYS = {"name", "where", "params", "description"}
_FILE_KEYS = {"exclusive", "segment"}
Scalar = str | int | float | bool | dt.date | dt.datetime


@dataclass(frozen=True)
class Rule:
    """One rule segment.

    Parameters
    ----------
    name : str
        The segment id: 1-32 letters, digits, ``_``, ``.`` or ``-``.
    where : str
        Boolean SQL expression over ``user_profiles`` columns; values as
        ``$param`` placeholders.
    params : mapping
        Placeholder name -> value (str, number, bool, date or a list of them).
    description : str, optional
        The planner's words, put before the generated portrait.
    """

    name: str
    where: str
    params: Mapping[str, Any] = field(default_factory=dict)
    description: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.params, Mapping):
            object.__setattr__(self, "params", dict(self.params))
        check_rule(self)


@dataclass(frozen=True)
class RuleSet:
    """Rules in order, and whether a user joins only the first one that matches."""

    rules: tuple[Rule, ...]
    exclusive: bool = False


def check_rule(rule: Rule) -> None:
    """Raise InputError naming `rule` when its name, expression or params are not allowed."""
    where = f"rule '{rule.name}'" if isinstance(rule.name, str) else "a rule"

    def fail(column: str, problem: str) -> InputError:
        return InputError("rules", column, f"{where}: {problem}")

    if not isinstance(rule.name, str) or not _NAME.match(rule.name):
        raise fail("name", "the name must be 1-32 letters, digits, '_', '.' or '-' starting "
                   f"with a letter or digit; got {rule.name!r}")
    if not isinstance(rule.where, str) or not rule.where.strip():
        raise fail("where", f"'where' must be a non-empty SQL expression; got {rule.where!r}")
    text = rule.where
    if ";" in text or "--" in text or "/*" in text:
        raise fail("where", "the expression may not contain ';' or comments: give one boolean "
                   "expression over user_profiles columns")
    bad = _FORBIDDEN.search(text)
    if bad:
        raise fail("where", f"the expression may not contain statements or subqueries (found "
                   f"'{bad.group(0)}'): give one boolean expression over user_profiles "
                   "columns, with values as $params")
    used = set(_PARAM.findall(text))
    if len(_DOLLAR.findall(text)) != len(_PARAM.findall(text)):
        raise fail("where", "placeholders must be named like $min_spend (no $1, no $$ quoting)")
    try:
        compile_where(text)
    except RuleSyntaxError as exc:
        raise fail("where", f"{exc} in {text!r}") from None
    if not isinstance(rule.params, Mapping):
        raise fail("params", f"params must be a table of name = value; got {rule.params!r}")
    missing = sorted(used - set(rule.params))
    if missing:
        raise fail("params", f"${missing[0]} is used in 'where' but has no value in params")
    unused = sorted(set(rule.params) - used)
    if unused:
        raise fail("params", f"param '{unused[0]}' is not used in 'where' (placeholders: "
                   f"{sorted(used)})")
    for key, value in rule.params.items():
        values = value if isinstance(value, list | tuple) else [value]
        if not all(isinstance(v, Scalar) for v in values):
            raise fail("params", f"param '{key}' must be a string, number, bool, date or a list "
                       f"of them; got {value!r}")


def load_rules(source: str | os.PathLike[str] | Sequence[Rule] | RuleSet) -> RuleSet:
    """Read rules from a TOML file, or wrap Rule objects.

    Parameters
    ----------
    source : path, list of Rule or RuleSet
        A TOML file with ``[[segment]]`` tables (``name``, ``where``,
        ``params``, ``description``) and an optional top-level ``exclusive``.

    Returns
    -------
    RuleSet

    Raises
    ------
    InputError
        Unreadable TOML, unknown keys, no rules, a rule breaking `check_rule`,
        or two rules with one name.
    """
    if isinstance(source, RuleSet):
        ruleset = source
    elif isinstance(source, str | os.PathLike):
        ruleset = _read_toml(Path(source))
    else:
        items = list(source)
        bad = [r for r in items if not isinstance(r, Rule)]
        if bad:
            raise InputError("rules", None, f"expected Rule objects; got {bad[0]!r}")
        ruleset = RuleSet(tuple(items))
    if not ruleset.rules:
        raise InputError("rules", None, "no rules given: add at least one [[segment]]")
    seen: set[str] = set()
    for i, rule in enumerate(ruleset.rules):
        if rule.name in seen:
            raise InputError("rules", "name", f"rule '{rule.name}' is defined twice", i + 1)
        seen.add(rule.name)
    return ruleset


def _read_toml(path: Path) -> RuleSet:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InputError("rules", None, f"no rules file at {path}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError("rules", None, f"{path} is not valid TOML: {exc}") from exc
    unknown = sorted(set(data) - _FILE_KEYS)
    if unknown:
        raise InputError("rules", unknown[0], f"unknown key in {path}; allowed: "
                         f"{sorted(_FILE_KEYS)}")
    exclusive = data.get("exclusive", False)
    if not isinstance(exclusive, bool):
        raise InputError("rules", "exclusive", f"must be true or false; got {exclusive!r}")
    entries = data.get("segment", [])
    if not isinstance(entries, list):
        raise InputError("rules", "segment", "write each rule as a [[segment]] table")
    rules = []
    for i, entry in enumerate(entries):
        extra = sorted(set(entry) - _RULE_KEYS)
        if extra:
            raise InputError("rules", extra[0], f"unknown key in [[segment]] "
                             f"'{entry.get('name', i + 1)}'; allowed: {sorted(_RULE_KEYS)}", i + 1)
        if "name" not in entry or "where" not in entry:
            raise InputError("rules", "name" if "name" not in entry else "where",
                             f"[[segment]] number {i + 1} needs 'name' and 'where'", i + 1)
        try:
            rules.append(Rule(entry["name"], entry["where"], entry.get("params", {}),
                              entry.get("description")))
        except InputError as exc:
            raise InputError(exc.table, exc.column, exc.problem, i + 1) from None
    return RuleSet(tuple(rules), exclusive)


def evaluate_rules(con: duckdb.DuckDBPyConnection, ruleset: RuleSet) -> None:
    """Fill the temp table `MEMBERS_TABLE` (segment, user_id) with each rule's users.

    With ``ruleset.exclusive`` a user is kept only in the first rule that
    matches them; otherwise in every one.

    Raises
    ------
    InputError
        Naming the rule whose expression DuckDB rejects (unknown column, type
        error, not a boolean...).
    """
    con.execute(f"create or replace temp table {MEMBERS_TABLE} "
                "(segment varchar, rule_order integer, user_id varchar)")
    columns = [r[0] for r in con.execute(
        "select column_name from information_schema.columns where table_name = 'user_profiles' "
        "order by ordinal_position").fetchall()]
    for i, rule in enumerate(ruleset.rules):
        # DuckDB runs the SQL rebuilt from the parse (columns quoted, every value bound)
        compiled = compile_where(rule.where)
        unknown = sorted(compiled.columns - set(columns))
        if unknown:
            raise InputError("rules", "where", f"rule '{rule.name}': unknown column "
                             f"'{unknown[0]}' (user_profiles has: {', '.join(columns)})", i + 1)
        values = {f"p_{k}": v for k, v in rule.params.items()} | compiled.literals
        try:
            con.execute(
                "create or replace temp table _adopt_rule_hits as "
                f"select user_id from user_profiles where ({compiled.sql})",
                values,
            )
        except duckdb.Error as exc:
            message = str(exc).splitlines()[0]
            raise InputError("rules", "where", f"rule '{rule.name}': {message}", i + 1) from exc
        con.execute(
            f"insert into {MEMBERS_TABLE} select $segment, $order, user_id from _adopt_rule_hits",
            {"segment": rule.name, "order": i},
        )
    con.execute("drop table if exists _adopt_rule_hits")
    if ruleset.exclusive:
        con.execute(
            f"delete from {MEMBERS_TABLE} as m where exists (select 1 from {MEMBERS_TABLE} as o "
            "where o.user_id = m.user_id and o.rule_order < m.rule_order)"
        )
