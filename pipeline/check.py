"""What `onion check` and `onion poll` can tell before a round: alert rules that do not
bind to the tables the probes make, and (check only) what a poll would meet per host."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from onion.alerts.rules import Rule
from onion.core.i18n import _
from onion.probes.base import Probe


def rule_errors(rules: Sequence[Rule], probes: Sequence[Probe]) -> list[str]:
    """Each rule's SQL bound (not run) against an empty database of exactly the tables and
    views these probes make: a column or table that does not exist is said now, not as a
    stderr line at every poll. A built-in rule over a probe that is not run is skipped."""
    mine = [r for r in rules if r.enabled]
    if not mine:
        return []
    # Only with rules to bind: a poll imports DuckDB later, while its SSH round runs.
    import duckdb

    from onion.alerts import engine
    from onion.storage import duck as store
    from onion.storage import schema

    con = duckdb.connect()
    try:
        tables = schema.tables_for(probes)
        store.ensure_schema(con, tables)
        errors = []
        for rule in mine:
            sql = engine.rule_sql(rule)
            params: dict[str, object] = {"run_id": 0, "hosts": []}
            if "$since" in sql:
                params["since"] = dt.datetime(1970, 1, 1)
            try:
                con.execute("EXPLAIN " + sql, params)
            except duckdb.Error as exc:
                if rule.builtin and isinstance(exc, duckdb.CatalogException):
                    continue  # over a probe that is not run: the engine skips it too
                errors.append(_("rule {rule}: {error}").format(
                    rule=rule.name, error=str(exc).splitlines()[0]))
        return errors
    finally:
        con.close()
