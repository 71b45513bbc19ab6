"""The first line of defence for /v1/sql: parse, check, and rebuild one read-only SELECT.

The statement is parsed with sqlglot's MySQL dialect (TiDB speaks it), checked node by node,
and what is sent to the server is the SQL regenerated from the checked tree with comments
dropped: MySQL/TiDB *execute* `/*! ... */` and `/*T! ... */` comments, so text a parser
treats as a comment must never reach the server. The second line of defence is the
database account itself (SELECT on the v_* views only), so a gap here is not a leak.

What a query may not carry, because it would lift the limits the server enforces for us:
optimizer hints other than plan-shape ones (MAX_EXECUTION_TIME, SET_VAR, MEMORY_QUOTA and
RESOURCE_GROUP override the session's limits and group), and system variables other than a
short allow-list (`@@tidb_config`, `@@datadir`, `@@hostname` describe the server, which
analysts have no need to know). Nesting is bounded on the token stream before parsing:
sqlglot's parser and generator recurse per level and hit Python's recursion limit at about
40 parentheses, 50 CASEs or 100 NOTs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import Token, Tokenizer, TokenType

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
        "TIDB_DECODE_SQL_DIGESTS",  # other sessions' statement text
    }
)
VIEW_PREFIX = "v_"
# Hints that only shape the plan (join/agg algorithm, index, engine, join order). Everything
# else is refused: MAX_EXECUTION_TIME / SET_VAR / MEMORY_QUOTA / RESOURCE_GROUP lift limits.
ALLOWED_HINTS = frozenset(
    {
        "READ_FROM_STORAGE",
        "HASH_JOIN",
        "MERGE_JOIN",
        "INL_JOIN",
        "INL_HASH_JOIN",
        "INL_MERGE_JOIN",
        "HASH_JOIN_BUILD",
        "HASH_JOIN_PROBE",
        "SHUFFLE_JOIN",
        "BROADCAST_JOIN",
        "HASH_AGG",
        "STREAM_AGG",
        "MPP_1PHASE_AGG",
        "MPP_2PHASE_AGG",
        "AGG_TO_COP",
        "LIMIT_TO_COP",
        "USE_INDEX",
        "IGNORE_INDEX",
        "FORCE_INDEX",
        "ORDER_INDEX",
        "NO_ORDER_INDEX",
        "USE_INDEX_MERGE",
        "NO_INDEX_MERGE",
        "LEADING",
        "STRAIGHT_JOIN",
        "SEMI_JOIN_REWRITE",
        "NO_DECORRELATE",
        "MERGE",
        "QB_NAME",
    }
)
# Session-scope system variables an analyst may read (what the session runs with).
ALLOWED_SYSTEM_VARIABLES = frozenset(
    {
        "version",
        "version_comment",
        "time_zone",
        "sql_mode",
        "max_execution_time",
        "tidb_mem_quota_query",
        "tidb_isolation_read_engines",
        "tidb_current_ts",
    }
)
MAX_NESTING = 24  # parentheses + CASE + unary operators open at once
_OPEN = frozenset({TokenType.L_PAREN, TokenType.CASE})
_CLOSE = frozenset({TokenType.R_PAREN, TokenType.END})
_SIGNS = frozenset({TokenType.DASH, TokenType.PLUS})  # unary only where no value precedes
_VALUE_END = frozenset(
    {
        TokenType.VAR,
        TokenType.NUMBER,
        TokenType.STRING,
        TokenType.IDENTIFIER,
        TokenType.R_PAREN,
        TokenType.END,
        TokenType.NULL,
        TokenType.TRUE,
        TokenType.FALSE,
        TokenType.STAR,
    }
)
_PREFIX = frozenset(
    {TokenType.NOT, TokenType.DASH, TokenType.PLUS, TokenType.TILDE, TokenType.EXCLAMATION}
)


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


def _tokens(sql: str) -> list[Token]:
    try:
        return Tokenizer().tokenize(sql)
    except TokenError as exc:
        raise _reject(f"cannot tokenize: {exc}") from exc


def _check_comments(tokens: list[Token]) -> None:
    for tok in tokens:
        for comment in tok.comments:
            body = comment.lstrip()
            if body.startswith("!") or body[:2].upper() in ("T!", "M!"):
                raise _reject("executable comments (/*! */, /*T! */) are not allowed")


def _check_nesting(tokens: list[Token]) -> None:
    """Refuse what would exhaust the parser's recursion, before the parser sees it.

    Depth counts every open parenthesis/CASE plus the unary operators (NOT, -, ~, !) that
    stack up in front of it: `NOT (NOT (a))` is 4 levels deep."""
    stack: list[int] = []  # per open level: its cost (1 + the unary run before it)
    run = deepest = 0
    prev: TokenType | None = None
    for tok in tokens:
        kind = tok.token_type
        if kind in _OPEN:
            stack.append(1 + run)
            run = 0
        elif kind in _CLOSE:
            if stack:
                stack.pop()
            run = 0
        elif kind in _PREFIX and not (kind in _SIGNS and prev in _VALUE_END):
            run += 1
        else:
            run = 0
        deepest = max(deepest, sum(stack) + run)
        prev = kind
    if deepest > MAX_NESTING:
        raise _reject(
            f"nested too deeply: {deepest} levels of parentheses, CASE and unary operators, "
            f"at most {MAX_NESTING}"
        )


def _hint_name(node: exp.Expression | str) -> str:
    # sqlglot keeps hints it cannot parse as raw text
    text = node if isinstance(node, str) else node.sql(dialect=DIALECT)
    return text.split("(", 1)[0].strip().upper()


def _check_hint(node: exp.Hint) -> None:
    for item in node.expressions:
        name = _hint_name(item)
        if name not in ALLOWED_HINTS:
            raise _reject(
                f"optimizer hint {name} is not allowed (only plan-shape hints such as "
                "HASH_JOIN, USE_INDEX, READ_FROM_STORAGE; limits are set by the service)"
            )


def _check_system_variable(node: exp.SessionParameter) -> None:
    name, scope = str(node.name).lower(), str(node.args.get("kind") or "session").lower()
    if scope != "session" or name not in ALLOWED_SYSTEM_VARIABLES:
        shown = f"@@{scope}.{name}" if node.args.get("kind") else f"@@{name}"
        allowed = ", ".join(sorted(ALLOWED_SYSTEM_VARIABLES))
        raise _reject(f"system variable {shown} is not allowed (readable: {allowed})")


def check(sql: str, *, database: str | None = None, max_rows: int | None = None) -> CheckedSql:
    """Return the statement to run, or raise SqlRejected with the reason."""
    if not sql or not sql.strip():
        raise _reject("empty statement")
    tokens = _tokens(sql)
    _check_comments(tokens)
    _check_nesting(tokens)
    try:
        return _check_parsed(sql, database, max_rows)
    except RecursionError as exc:  # the token bounds should make this unreachable
        raise _reject("nested too deeply to analyse") from exc


def _check_parsed(sql: str, database: str | None, max_rows: int | None) -> CheckedSql:
    try:
        trees = [t for t in sqlglot.parse(sql, read=DIALECT) if t is not None]
    except (ParseError, TokenError) as exc:
        raise _reject(f"not valid MySQL/TiDB SQL: {str(exc).splitlines()[0]}") from exc
    if len(trees) != 1:
        raise _reject(f"exactly one statement is allowed, got {len(trees)}")
    tree = trees[0]
    if not isinstance(tree, exp.Query) or isinstance(tree, exp.Subquery):
        raise _reject(f"only SELECT (or WITH ... SELECT) is allowed, got {tree.key.upper()}")
    tables: list[str] = []
    for node in tree.walk():
        if isinstance(node, exp.Into):
            raise _reject("SELECT ... INTO is not allowed")
        if isinstance(node, exp.Lock):
            raise _reject("locking reads (FOR UPDATE / LOCK IN SHARE MODE) are not allowed")
        if isinstance(node, exp.Command | exp.DML | exp.DDL | exp.Set | exp.Use):
            raise _reject(f"{node.key.upper()} is not allowed inside a query")
        if isinstance(node, exp.Hint):
            _check_hint(node)
            continue
        if isinstance(node, exp.SessionParameter):
            _check_system_variable(node)
        if isinstance(node, exp.Func) and _function_name(node) in FORBIDDEN_FUNCTIONS:
            raise _reject(f"function {_function_name(node)} is not allowed")
        if isinstance(node, exp.Table):
            tables.append(_check_table(node, database))
    limited = _apply_row_limit(tree, max_rows) if max_rows is not None else tree
    return CheckedSql(limited.sql(dialect=DIALECT, comments=False), tuple(tables))


def _cte_in_scope(node: exp.Table, name: str) -> bool:
    """Is `name` a CTE visible where `node` stands? A WITH's CTEs are visible in its query's
    body and in the CTEs after them (a RECURSIVE one also in itself), nowhere else."""
    child: Any = node  # sqlglot types parents as Expr
    parent = node.parent
    while parent is not None:
        if isinstance(parent, exp.With):
            ctes = parent.expressions
            idx = next((i for i, c in enumerate(ctes) if c is child), len(ctes))
            visible = ctes[: idx + 1] if parent.args.get("recursive") else ctes[:idx]
            if any(c.alias_or_name.lower() == name for c in visible):
                return True
            # the body of the query owning this WITH does not enclose a CTE definition
            child = parent.parent or parent
            parent = child.parent
            continue
        with_ = parent.args.get("with_") if isinstance(parent, exp.Query) else None
        if (
            isinstance(with_, exp.With)
            and with_ is not child
            and any(c.alias_or_name.lower() == name for c in with_.expressions)
        ):
            return True
        child, parent = parent, parent.parent
    return False


def _check_table(node: exp.Table, database: str | None) -> str:
    name, db = node.name.lower(), (node.db or "").lower()
    if node.catalog:
        raise _reject(f"three-part name {node.sql(dialect=DIALECT)} is not allowed")
    if db in SYSTEM_SCHEMAS:
        raise _reject(f"system schema {db} is not allowed")
    if db and database and db != database.lower():
        raise _reject(f"only the analytics database {database} may be read, not {db}")
    if not db and _cte_in_scope(node, name):
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
