"""Cron etiquette: quiet while nothing changes; one line when hosts go down or every host
fails; -q silences even that; `onion alerts --check` exits like a Nagios plugin."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from onion.cli.main import main
from tests.alerts.conftest import Fleet, write_config
from tests.alerts.test_builtin import fs
from tests.sshd import free_port


def onion(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "onion.cli", *args], capture_output=True,
                          text=True, timeout=120)


def test_one_line_when_hosts_go_down_then_quiet(tmp_path: Path) -> None:
    port = free_port("127.0.0.15")
    inv = tmp_path / "hosts.ini"
    inv.write_text("here ansible_connection=local\n"
                   f"gone ansible_host=127.0.0.15 ansible_port={port}\n")
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[storage]\ndb = "{tmp_path / "o.duckdb"}"\n[probes]\nenable = ["memory"]\n'
                   '[ssh]\nconfig = []\nagent = false\n')
    first = onion("poll", "-i", str(inv), "--config", str(cfg))
    assert first.returncode == 0
    assert "1 host(s) went down since their last poll: gone (unreachable)" in first.stderr
    again = onion("poll", "-i", str(inv), "--config", str(cfg))
    assert again.returncode == 0 and again.stderr == ""   # still down: nothing new to say
    inv.write_text(f"gone ansible_host=127.0.0.15 ansible_port={port}\n"
                   f"gone2 ansible_host=127.0.0.15 ansible_port={port}\n")
    every = onion("poll", "-i", str(inv), "--config", str(cfg))
    assert every.returncode == 0 and "every host failed this round (2)" in every.stderr
    quiet = onion("poll", "-q", "-i", str(inv), "--config", str(cfg))
    assert quiet.returncode == 0 and quiet.stderr == ""


def test_alerts_check_exits_like_a_nagios_plugin(tmp_path: Path) -> None:
    fleet = Fleet(tmp_path / "onion.duckdb", write_config(tmp_path / "onion.toml", ""))

    def check() -> int:
        return CliRunner().invoke(main, ["alerts", "--check", "--db", str(fleet.db),
                                         "--config", str(fleet.cfg_path)]).exit_code

    fleet.poll({"filesystems": [fs("/", 50)]})
    assert check() == 0
    fleet.poll({"filesystems": [fs("/var", 95)]})        # filesystem_full: a warning
    assert check() == 1
    fleet.poll(down={"a": "unreachable"})
    fleet.poll(down={"a": "unreachable"})                # host_down after 2 polls: critical
    assert check() == 2


def test_archive_maintenance_runs_once_a_day_and_when_the_budget_nears(tmp_path: Path
                                                                       ) -> None:
    """A minute's cron maintains the archive on the first round of each day (days close at
    midnight), not on every round; and on any round once the budget is near."""
    import datetime as dt
    import json

    from onion.inventory.model import LOCALHOST
    from onion.pipeline import upkeep
    from onion.pipeline.round import run_poll
    from onion.pipeline.setup import load_config
    from onion.probes import registry

    cfg = load_config(None, str(tmp_path / "onion.duckdb"))
    probes = registry.select(registry.installed(), ["memory"])
    first = run_poll(cfg, [LOCALHOST], probes)
    assert first.stored and first.maintenance is not None
    note = upkeep.read_note(cfg.db_path)
    assert note is not None and note.day == dt.datetime.now(dt.UTC).date()
    again = run_poll(cfg, [LOCALHOST], probes)
    assert again.stored and again.maintenance is None       # the same day: nothing closed
    # The day turned since the last maintenance (a note of yesterday's): this round does it.
    path = upkeep.note_path(cfg.db_path)
    raw = json.loads(path.read_text())
    path.write_text(json.dumps({**raw, "day": (note.day - dt.timedelta(days=1)).isoformat()}))
    turned = run_poll(cfg, [LOCALHOST], probes)
    assert turned.maintenance is not None
    assert upkeep.read_note(cfg.db_path) == note
    # The budget near: the estimate (noted archive + database + WAL + queue) passes 95 %.
    size = upkeep.live_bytes(cfg.db_path, cfg.spool_path) + note.archive_bytes
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    assert not upkeep.due(cfg.db_path, cfg.spool_path, size * 2, now)
    assert upkeep.due(cfg.db_path, cfg.spool_path, size, now)
    assert not upkeep.due(cfg.db_path, cfg.spool_path, None, now)
    path.write_text("not json")          # unreadable: maintain, as with no note at all
    assert upkeep.due(cfg.db_path, cfg.spool_path, None, now)


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys\n"
                          "print(' '.join(sorted(m for m in sys.modules)))"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return set(out.stdout.split())


def test_a_verb_is_imported_with_the_collector_paused_then_frozen() -> None:
    """What a verb's imports make lives as long as the process: frozen, the cyclic garbage
    collector does not walk it again at every collection (35 ms of a cron poll's CPU);
    the collector is on again for the command itself."""
    code = ("import gc\nfrom click.testing import CliRunner\nfrom onion.cli.main import main\n"
            "before = gc.get_freeze_count()\n"
            "assert CliRunner().invoke(main, ['poll', '--help']).exit_code == 0\n"
            "print(before, gc.get_freeze_count(), gc.isenabled())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    before, after, enabled = out.stdout.split()
    assert before == "0" and int(after) > 10_000 and enabled == "True"


def test_poll_imports_duckdb_only_for_storing_and_no_unconfigured_sink(tmp_path: Path
                                                                       ) -> None:
    """What a cron run pays for before its SSH round: no DuckDB, numpy or alert engine
    (imported while the round runs), and no driver of a sink type it is not configured
    with (PostgreSQL's alone costs more CPU than polling a host)."""
    before = _modules_after("import onion.cli.poll")
    assert not {"duckdb", "numpy", "onion.alerts.engine", "onion.pipeline.store"} & before
    out = tmp_path / "jsonl"
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[storage]\ndb = "{tmp_path / "o.duckdb"}"\n[probes]\nenable = ["memory"]\n'
                   f'[sinks.text]\ntype = "jsonl"\npath = "{out}"\n')
    after = _modules_after(
        "from click.testing import CliRunner\nfrom onion.cli.main import main\n"
        f"r = CliRunner().invoke(main, ['poll', '--config', {str(cfg)!r}])\n"
        "assert r.exit_code == 0, r.output\n")
    assert {"duckdb", "onion.pipeline.store", "onion.storage.jsonl"} <= after
    assert "numpy" not in after   # a small round is stored from Python lists
    assert not {"psycopg", "pymysql", "clickhouse_connect", "onion.storage.postgres",
                "onion.storage.mysql"} & after
    assert list(out.rglob("*.jsonl"))   # the configured sink got the round
