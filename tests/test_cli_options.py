"""Options where a user puts them: before or after the verb, -h for help, the
environment honoured by every verb (init included), -i with a folder, and no fatal
missing ~/.ssh/config."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from click.testing import CliRunner

from onion.cli.main import main


def test_common_options_before_the_verb(tmp_path: Path) -> None:
    db = tmp_path / "o.duckdb"
    cfg = tmp_path / "c.toml"
    cfg.write_text('[probes]\nenable = ["memory"]\n')
    res = CliRunner().invoke(main, ["--db", str(db), "--config", str(cfg), "poll"])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(main, ["--db", str(db), "sql", "--format", "csv",
                                    "SELECT count(*) FROM memory"])
    assert res.exit_code == 0 and res.output.splitlines()[1] == "1", res.output
    # After the verb wins over before it.
    other = tmp_path / "other.duckdb"
    res = CliRunner().invoke(main, ["--db", str(db), "--config", str(cfg), "poll",
                                    "--db", str(other)])
    assert res.exit_code == 0 and other.exists()


def test_dash_h_is_help_everywhere() -> None:
    for argv in (["-h"], ["poll", "-h"], ["db", "stats", "-h"], ["alerts", "-h"]):
        res = CliRunner().invoke(main, argv)
        assert res.exit_code == 0 and "Usage:" in res.output, argv


def test_init_takes_config_db_and_the_environment(tmp_path: Path, monkeypatch) -> None:
    res = CliRunner().invoke(main, ["init", "--config", str(tmp_path / "a.toml"),
                                    "--db", str(tmp_path / "a.duckdb")])
    assert res.exit_code == 0, res.output
    data = tomllib.loads((tmp_path / "a.toml").read_text())
    assert data["storage"]["db"] == str(tmp_path / "a.duckdb")
    monkeypatch.setenv("ONION_CONFIG", str(tmp_path / "env.toml"))
    assert CliRunner().invoke(main, ["init"]).exit_code == 0
    assert (tmp_path / "env.toml").exists()
    res = CliRunner().invoke(main, ["parse", "--config", str(tmp_path / "env.toml"), "memory",
                                    "--os", "linux", "/proc/meminfo"])
    assert res.exit_code == 0, res.output


def test_an_inventory_folder_and_no_ssh_config_at_all(tmp_path: Path) -> None:
    home = tmp_path / "home"   # a fresh account: no ~/.ssh at all
    home.mkdir()
    inv = tmp_path / "inventory"
    inv.mkdir()
    (inv / "hosts.ini").write_text("[lab]\nhere ansible_connection=local\n")
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[storage]\ndb = "{tmp_path / "o.duckdb"}"\n[probes]\nenable = ["memory"]\n')
    env = {**os.environ, "HOME": str(home)}
    run = subprocess.run([sys.executable, "-m", "onion.cli", "poll", "-i", str(inv),
                          "--config", str(cfg), "-v"], capture_output=True, text=True,
                         env=env, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "1/1 hosts ok" in run.stdout


def test_parse_picks_the_part_a_lone_file_holds_or_lists_them(tmp_path: Path) -> None:
    loadavg = tmp_path / "loadavg"
    loadavg.write_text("0.52 0.58 0.59 1/467 12345\n")
    res = CliRunner().invoke(main, ["parse", "cpu", "--os", "linux", str(loadavg)])
    assert res.exit_code == 0, res.output
    assert "reading FILE as part 'loadavg' of cpu" in res.stderr
    assert '"load_1m": 0.52' in res.stdout
    junk = tmp_path / "junk"
    junk.write_text("nothing a cpu part prints\n")
    res = CliRunner().invoke(main, ["parse", "cpu", "--os", "linux", str(junk)])
    assert res.exit_code != 0
    assert "reads 2 parts (loadavg, stat)" in res.output and "--part NAME" in res.output


def test_every_verb_has_help_with_an_example_and_completion_works() -> None:
    verbs = [["poll"], ["check"], ["sql"], ["hosts"], ["parse"], ["report"], ["init"],
             ["alerts"], ["alerts", "history"], ["alerts", "test"], ["alerts", "rules"],
             ["db", "stats"], ["db", "check"], ["db", "compact"], ["db", "export"],
             ["plugins"], ["central", "token"]]
    for verb in verbs:
        res = CliRunner().invoke(main, [*verb, "--help"])
        assert res.exit_code == 0 and "Example:" in res.output, verb
    # The installed command, as a shell calls it: click names the variable after it.
    onion = shutil.which("onion") or str(Path(sys.executable).with_name("onion"))
    env = {**os.environ, "_ONION_COMPLETE": "bash_source"}
    script = subprocess.run([onion], env=env, capture_output=True, text=True,
                            timeout=60).stdout
    assert "_onion_completion" in script and "complete " in script
