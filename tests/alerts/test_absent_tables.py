"""A built-in rule over a table this database has not got (a central's ``pollers`` on a
poller, ``gpu`` with that probe off) is skipped before DuckDB is asked: its catalog error
costs more than the rule. A tuned or a user's rule is still run, and told if it fails."""

from __future__ import annotations

from types import SimpleNamespace

from onion.alerts import engine, rules


def _rules(**tuned: dict[str, object]) -> dict[str, rules.Rule]:
    own = [{"name": n, **t} for n, t in tuned.items()]
    settings = SimpleNamespace(disable=[], rules=own)
    return {r.name: r for r in rules.load(settings)}


def test_a_built_in_over_a_missing_table_is_skipped() -> None:
    loaded = _rules()
    specs = {"polls": object(), "cpu": object()}
    assert engine._absent(loaded["poller_stale"], specs)
    assert engine._absent(loaded["gpu_hot"], specs)
    assert not engine._absent(loaded["load_high"], specs)
    assert not engine._absent(loaded["host_down"], specs)
    assert not engine._absent(loaded["file_changed"], specs)     # a source: DuckDB decides
    assert not engine._absent(loaded["poller_stale"], {**specs, "pollers": object()})


def test_a_tuned_or_own_rule_is_run() -> None:
    loaded = _rules(gpu_hot={"table": "gpu_rates"},
                    mine={"table": "gpu", "condition": "true"})
    assert not engine._absent(loaded["gpu_hot"], {})
    assert not engine._absent(loaded["mine"], {})
