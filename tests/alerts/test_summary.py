"""A rule's summary: the plain ones (``{{ column }}`` and text) are rendered without
jinja2, exactly as jinja2 renders them; every other template still goes to jinja2."""

from __future__ import annotations

import datetime as dt
import decimal
import subprocess
import sys
import uuid
from pathlib import Path

import duckdb
import pytest

from onion.alerts import engine, messages
from onion.alerts.builtin import BUILTIN

ROW = {"host": "h1", "item": "/", "value": "4.31", "x": None, "f": 4.31, "i": 3, "b": True,
       "d": dt.datetime(2026, 1, 2, 3, 4, 5, 6), "day": dt.date(2026, 1, 2),
       "dec": decimal.Decimal("1.50"), "l": [1, "a"], "s": "a  {{ y }} b\n c",
       "u": uuid.UUID(int=5), "big": 1e20, "neg": -0.0, "td": dt.timedelta(seconds=5),
       "raw": b"ab", "none": 1, "range": 2, "in": 3, "self": 4}

PLAIN = ["{{ host }} is {{ x }}", "{{f}}/{{ i }}{{b}}", "{{ d }} {{ day }} {{ dec }} {{ l }}",
         "{{ s }}", "{{ u }} {{ big }} {{ neg }} {{ td }} {{ raw }}", "  a  {{ host }}  b ",
         "no placeholders", "{{ range }}", "{{ host\n }}", "ünï {{ host }} °C"]
BUILTINS = [str(t["summary"]) for t in BUILTIN.values()]
# jinja2's own: a name missing from the row, a filter, a block, a comment, whitespace
# control, braces around a placeholder, jinja2's constants and special names.
JINJA = ["{{ missing }}", "{{ host | upper }}", "{{{ host }}}", "{% if x %}a{% endif %}",
         "{# c #}{{ host }}", "{{- host -}}", "{{ host }} }", "{{ none }}", "{{ in }}",
         "{{ self }}"]


@pytest.mark.parametrize("template", PLAIN + BUILTINS + JINJA + [""])
def test_the_same_text_as_jinja2(template: str) -> None:
    assert engine.summary(template, ROW) == messages.summary(template, ROW)


@pytest.mark.parametrize("template", PLAIN)
def test_plain_summaries_skip_jinja2(template: str) -> None:
    plain = engine._plain(template)
    assert plain is not None and all(n in ROW for n in plain[1])


@pytest.mark.parametrize("template", BUILTINS)
def test_every_built_in_summary_is_plain(template: str) -> None:
    assert engine._plain(template) is not None


@pytest.mark.parametrize("template", JINJA)
def test_the_rest_go_to_jinja2(template: str) -> None:
    plain = engine._plain(template)
    assert plain is None or not all(n in ROW for n in plain[1])


def _poll(tmp_path: Path, summary: str) -> tuple[set[str], str]:
    """A poll of this machine in a fresh interpreter where a rule fires: the modules it
    imported, and the alert's summary as stored."""
    cfg = tmp_path / "c.toml"
    db = tmp_path / "o.duckdb"
    cfg.write_text(f'[storage]\ndb = "{db}"\n[probes]\nenable = ["memory"]\n'
                   '[[alerts.rules]]\nname = "always"\ntable = "memory"\n'
                   f'condition = "total_bytes > 0"\nsummary = "{summary}"\n')
    code = ("import sys\nfrom click.testing import CliRunner\nfrom onion.cli.main import main\n"
            f"r = CliRunner().invoke(main, ['poll', '--config', {str(cfg)!r}])\n"
            "assert r.exit_code == 0, r.output\n"
            "print(' '.join(sorted(sys.modules)))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    with duckdb.connect(str(db), read_only=True) as con:
        (stored,) = con.execute("SELECT summary FROM alerts WHERE rule = 'always'").fetchone()
    return set(out.stdout.split()), stored


def test_a_firing_rule_with_a_plain_summary_imports_no_jinja2(tmp_path: Path) -> None:
    """jinja2 costs a cron run 40 ms of CPU: not paid when every summary is plain (the
    built-ins' are) and no message is rendered (no notifier here)."""
    modules, stored = _poll(tmp_path, "{{ host }} has {{ total_bytes }} bytes")
    assert "jinja2" not in modules
    assert stored.startswith("localhost has ") and stored.endswith(" bytes")
    int(stored.split()[2])


def test_a_summary_with_a_filter_is_jinja2s(tmp_path: Path) -> None:
    modules, stored = _poll(tmp_path, "{{ host | upper }} has {{ total_bytes }} bytes")
    assert "jinja2" in modules
    assert stored.startswith("LOCALHOST has ")
