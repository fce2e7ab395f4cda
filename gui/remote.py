"""The report's queries against a daemon: a DB-API-like connection over ``POST /api/query``.

The report's loaders (``reports.fleet``, ``hostpage``, ``alerts``, ``changes``) take a
DuckDB connection and call ``execute(sql, params)`` then ``description`` and
``fetchall()``/``fetchone()``. This class gives them the same surface over the daemon's
API, so the desktop view runs the very queries the report runs, on a daemon next door
(its socket) or on another machine (its URL and token), and never writes anything: the
API takes one SELECT at a time and refuses the rest.

Parameters are inlined as SQL literals (the API takes none): ``?`` and ``$name`` outside
quotes become a literal of the value. Timestamps come back as the API writes them (ISO,
naive UTC, a ``Z``) and are read back into ``datetime``: the loaders compare and subtract
them. A text column holding exactly that form would be read as a time too; the API says
no column types, and only a display could differ.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from onion.core.errors import StorageError
from onion.core.sqltext import literal
from onion.daemon.client import Client, DaemonError

_ISO_Z = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?Z")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def sql_literal(v: Any) -> str:
    """A Python value as a DuckDB literal."""
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else f"'{v}'::DOUBLE"
    if isinstance(v, dt.datetime):
        naive = v.astimezone(dt.UTC).replace(tzinfo=None) if v.tzinfo else v
        return f"TIMESTAMP '{naive.isoformat(sep=' ')}'"
    if isinstance(v, dt.date):
        return f"DATE '{v.isoformat()}'"
    if isinstance(v, dt.timedelta):
        return f"to_microseconds({int(v / dt.timedelta(microseconds=1))})"
    if isinstance(v, list | tuple | set | frozenset):
        return "[" + ", ".join(sql_literal(x) for x in v) + "]"
    if isinstance(v, str):
        return literal(v)
    raise TypeError(f"cannot send a {type(v).__name__} as an SQL parameter")


def inline(sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> str:
    """``sql`` with its ``?`` and ``$name`` placeholders replaced by literals; quoted
    strings, quoted names and comments are left as they are."""
    if not params:
        return sql
    out: list[str] = []
    positional = list(params) if not isinstance(params, Mapping) else []
    named = params if isinstance(params, Mapping) else {}
    i, n, used = 0, len(sql), 0
    while i < n:
        c = sql[i]
        if c in "'\"":
            end = i + 1
            while end < n:
                if sql[end] == c:
                    if end + 1 < n and sql[end + 1] == c:  # a doubled quote
                        end += 2
                        continue
                    break
                end += 1
            out.append(sql[i:end + 1])
            i = end + 1
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            end = n if end < 0 else end
            out.append(sql[i:end])
            i = end
        elif c == "?" and positional:
            if used >= len(positional):
                raise ValueError("more ? placeholders than parameters")
            out.append(sql_literal(positional[used]))
            used += 1
            i += 1
        elif c == "$" and named:
            m = _NAME.match(sql, i + 1)
            if m is None or m.group() not in named:
                raise ValueError(f"no parameter for {sql[i:i + 20]!r}")
            out.append(sql_literal(named[m.group()]))
            i = m.end()
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _value(v: Any) -> Any:
    if isinstance(v, str) and _ISO_Z.fullmatch(v):
        return dt.datetime.fromisoformat(v[:-1])
    if isinstance(v, list):
        return [_value(x) for x in v]
    return v


class Result:
    """What ``execute`` returns: ``description`` (names only), the rows."""

    def __init__(self, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
        self.description = [(c, None, None, None, None, None, None) for c in columns]
        self._rows = rows

    def fetchall(self) -> list[tuple[Any, ...]]:
        rows, self._rows = self._rows, []
        return rows

    def fetchone(self) -> tuple[Any, ...] | None:
        return self._rows.pop(0) if self._rows else None

    def fetchnumpy(self) -> dict[str, Any]:
        """Columns as DuckDB gives them: numbers as float arrays masked where NULL, the
        rest as object arrays."""
        import numpy as np

        rows, self._rows = self._rows, []
        out: dict[str, Any] = {}
        for i, (name, *_) in enumerate(self.description):
            values = [r[i] for r in rows]
            if all(v is None or (isinstance(v, int | float) and not isinstance(v, bool))
                   for v in values):
                mask = [v is None for v in values]
                out[name] = np.ma.masked_array(
                    np.array([0.0 if v is None else float(v) for v in values], dtype=float),
                    mask=mask)
            else:
                arr = np.empty(len(values), dtype=object)
                arr[:] = values
                out[name] = arr
        return out


class ApiConnection:
    """Enough of a DuckDB connection for the report's loaders, over the daemon's API."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.truncated = 0      # queries whose answer the daemon cut at query_max_rows

    def execute(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> Result:
        try:
            got = self.client.post("/api/query", {"sql": inline(sql, params)})
        except DaemonError as exc:
            raise StorageError(f"the daemon at {self.client.where}: {exc}") from exc
        if got.get("truncated"):
            self.truncated += 1
        return Result(list(got["columns"]),
                      [tuple(_value(v) for v in row) for row in got["rows"]])

    def cursor(self) -> ApiConnection:
        return self

    def close(self) -> None:
        """Nothing is held open between queries."""


__all__ = ["ApiConnection", "Result", "inline", "sql_literal"]
