"""The first line of defence for /v1/sql: parse, check, and rebuild one read-only SELECT.

The statement is parsed with sqlglot's MySQL dialect (TiDB speaks it), checked node by node,
and what is sent to the server is the SQL regenerated from the checked tree with comments
dropped: MySQL/TiDB *execute* `/*! ... */` and `/*T! ... */` comments, so text a parser
treats as a comment must never reach the server. The second line of defence is the
database account itself (SELECT on the v_* views only), so a gap here is not a leak.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import Tokenizer

from medhtap.analytics.errors import SqlRejected

DIALECT = "mysql"
SYSTEM_SCHEMAS = frozenset(
    {"information_schema", "mysql", "performance_schema", "metrics_schema", "sys"}
)
# Functions that wait, lock, read files or change state, even inside a SELECT.
FORBIDDEN_FUNCTIONS = frozenset(
    {
        "SLEEP",
        "BENCHMARK",
        "GET_LOCK",
        "RELEASE_LOCK",
        "RELEASE_ALL_LOCKS",
        "IS_FREE_LOCK",
        "IS_USED_LOCK",
        "LOAD_FILE",
        "MASTER_POS_WAIT",
        "SOURCE_POS_WAIT",
        "NEXTVAL",
        "SETVAL",
        "LASTVAL",
    }
)
VIEW_PREFIX = "v_"


@dataclass(frozen=True)
class CheckedSql:
    sql: str  # what the server runs: regenerated from the checked tree, row limit applied
    tables: tuple[str, ...]


def _reject(reason: str) -> SqlRejected:
    return SqlRejected(f"statement rejected: {reason}", reason=reason)


def _function_name(node: exp.Func) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.name).upper()
    return node.sql_name().upper()


def _check_comments(sql: str) -> None:
    try:
        tokens = Tokenizer().tokenize(sql)
    except TokenError as exc:
        raise _reject(f"cannot tokenize: {exc}") from exc
    for tok in tokens:
        for comment in tok.comments:
            body = comment.lstrip()
            if body.startswith("!") or body[:2].upper() in ("T!", "M!"):
                raise _reject("executable comments (/*! */, /*T! */) are not allowed")


def check(sql: str, *, database: str | None = None, max_rows: int | None = None) -> CheckedSql:
    """Return the statement to run, or raise SqlRejected with the reason."""
    if not sql or not sql.strip():
        raise _reject("empty statement")
    _check_comments(sql)
    try:
        trees = [t for t in sqlglot.parse(sql, read=DIALECT) if t is not None]
    except (ParseError, TokenError) as exc:
        raise _reject(f"not valid MySQL/TiDB SQL: {str(exc).splitlines()[0]}") from exc
    if len(trees) != 1:
        raise _reject(f"exactly one statement is allowed, got {len(trees)}")
    tree = trees[0]
    if not isinstance(tree, exp.Query) or isinstance(tree, exp.Subquery):
        raise _reject(f"only SELECT (or WITH ... SELECT) is allowed, got {tree.key.upper()}")
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    tables: list[str] = []
    for node in tree.walk():
        if isinstance(node, exp.Into):
            raise _reject("SELECT ... INTO is not allowed")
        if isinstance(node, exp.Lock):
            raise _reject("locking reads (FOR UPDATE / LOCK IN SHARE MODE) are not allowed")
        if isinstance(node, exp.Command | exp.DML | exp.DDL | exp.Set | exp.Use):
            raise _reject(f"{node.key.upper()} is not allowed inside a query")
        if isinstance(node, exp.Func) and _function_name(node) in FORBIDDEN_FUNCTIONS:
            raise _reject(f"function {_function_name(node)} is not allowed")
        if isinstance(node, exp.Table):
            tables.append(_check_table(node, ctes, database))
    limited = _apply_row_limit(tree, max_rows) if max_rows is not None else tree
    return CheckedSql(limited.sql(dialect=DIALECT, comments=False), tuple(tables))


def _check_table(node: exp.Table, ctes: set[str], database: str | None) -> str:
    name, db = node.name.lower(), (node.db or "").lower()
    if node.catalog:
        raise _reject(f"three-part name {node.sql(dialect=DIALECT)} is not allowed")
    if db in SYSTEM_SCHEMAS:
        raise _reject(f"system schema {db} is not allowed")
    if db and database and db != database.lower():
        raise _reject(f"only the analytics database {database} may be read, not {db}")
    if not db and name in ctes:
        return name
    if name in SYSTEM_SCHEMAS or not name.startswith(VIEW_PREFIX):
        raise _reject(f"{name} is not an analyst view: read the masked v_* views")
    return name


def _literal_int(node: exp.Expression | None) -> int | None:
    if isinstance(node, exp.Limit):
        node = node.expression
    if isinstance(node, exp.Literal) and node.is_int:
        return int(node.this)
    return None


def _apply_row_limit(tree: exp.Query, max_rows: int) -> exp.Query:
    """Fetch at most max_rows + 1 rows, so the caller can say the answer was truncated."""
    cap = max_rows + 1
    if isinstance(tree, exp.Select):
        limit = tree.args.get("limit")
        if limit is None:
            return tree.limit(cap, copy=True)
        current = _literal_int(limit)
        if current is not None:
            return tree if current <= cap else tree.limit(cap, copy=True)
    # Set operations, offsets and computed limits: wrap, so the server never streams more.
    return exp.select("*").from_(tree.subquery("_q")).limit(cap)
