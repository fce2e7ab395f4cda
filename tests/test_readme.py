"""Every ``onion`` command the README shows exists with the options it shows, and those
that need no inventory of remote hosts run for real, in order, against one database.
The README cannot drift from the code again (``onion db`` once did)."""

from __future__ import annotations

import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Commands shown that need something this test does not have: hosts to poll, a folder
# outside the test's own.
NEEDS_HOSTS = ("-i ", "--rekey", "alerts test")


def readme_commands() -> list[list[str]]:
    text = (ROOT / "README.md").read_text()
    out = []
    for block in re.findall(r"```(?:sh|cron)\n(.*?)```", text, re.S):
        for line in block.splitlines():
            line = line.split("  #")[0].strip()
            if line.startswith("*/"):  # a crontab line: its command after the schedule
                line = " ".join(line.split()[5:])
            for part in re.split(r"\s*(?:&&|\|\||;|\|)\s*", line):
                if part.startswith("onion "):
                    out.append(shlex.split(part, comments=True))
    return out


def _onion(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "onion.cli", *args[1:]], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture()
def env(tmp_path: Path) -> dict[str, str]:
    import os
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONION_")}
    env.pop("ONION_CONFIG", None)
    env["HOME"] = str(tmp_path)
    env["XDG_DATA_HOME"] = str(tmp_path / "data")
    # The first command's --db and every later command's default: one database.
    env["ONION_DB"] = str(tmp_path / "onion.duckdb")
    return env


def test_the_readme_shows_commands() -> None:
    verbs = {c[1] for c in readme_commands()}
    assert {"poll", "report", "sql", "hosts", "init", "parse", "alerts", "db", "plugins"} <= verbs


def test_every_command_shown_parses(tmp_path: Path, env: dict[str, str]) -> None:
    for cmd in readme_commands():
        # --help after the shown options: click refuses an unknown option or verb first.
        res = _onion([*cmd, "--help"], tmp_path, env)
        assert res.returncode == 0, f"{shlex.join(cmd)}: {res.stderr}"


def test_commands_without_remote_hosts_run(tmp_path: Path, env: dict[str, str]) -> None:
    (tmp_path / "onion.toml").write_text("")
    # The README's first command (.ci/run runs it as is) polls into ONION_DB's file.
    first = _onion(["onion", "poll"], tmp_path, env)
    assert first.returncode == 0, first.stderr
    ran = []
    ctl = []
    for cmd in readme_commands():
        line = shlex.join(cmd)
        if any(n in line for n in NEEDS_HOSTS):
            continue
        if cmd[1] == "ctl":
            ctl.append(cmd)  # run below, against a daemon
            continue
        if cmd[1:3] == ["report", "--out"] and not cmd[3].startswith("onion-report"):
            cmd = [*cmd[:3], str(tmp_path / "report")]  # /var/www, /srv: not ours
        if cmd[1:3] == ["db", "export"]:
            cmd = [*cmd[:-1], str(tmp_path / "export")]
        if cmd[1] == "parse":
            continue  # reads /proc/meminfo: run below with this machine's file
        res = _onion(cmd, tmp_path, env)
        # --check answers 1 or 2 when this machine has a warning or critical alert firing.
        ok = (0, 1, 2) if "--check" in cmd else (0,)
        assert res.returncode in ok, f"{line}: {res.stdout}{res.stderr}"
        ran.append(line)
    assert any(r.startswith("onion sql") for r in ran) and any("db stats" in r for r in ran)
    _run_ctl(ctl, tmp_path, env)
    if Path("/proc/meminfo").exists():
        res = _onion(["onion", "parse", "memory", "--os", "linux", "/proc/meminfo"],
                     tmp_path, env)
        assert res.returncode == 0 and "total_bytes" in res.stdout


def _run_ctl(commands: list[list[str]], tmp_path: Path, env: dict[str, str]) -> None:
    """The README's `onion ctl` lines, against a real daemon polling this machine."""
    assert commands, "the README shows onion ctl"
    daemon = subprocess.Popen([sys.executable, "-m", "onion.cli", "daemon"], cwd=tmp_path,
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    sock = Path(env["ONION_DB"] + ".sock")
    try:
        deadline = time.monotonic() + 60
        while not sock.exists() and time.monotonic() < deadline and daemon.poll() is None:
            time.sleep(0.1)
        assert sock.exists(), "the daemon did not start"
        for cmd in commands:
            if "--follow" in cmd:
                continue  # runs until stopped: its options are checked above
            if "--limit" in cmd:  # this machine is the daemon's one host
                cmd = [*cmd[:cmd.index("--limit") + 1], "localhost"]
            res = _onion(cmd, tmp_path, env)
            assert res.returncode == 0, f"{shlex.join(cmd)}: {res.stdout}{res.stderr}"
    finally:
        daemon.send_signal(signal.SIGTERM)
        _, err = daemon.communicate(timeout=60)
    assert daemon.returncode == 0, err


def test_every_toml_block_is_toml_onion_reads() -> None:
    """The README's config snippets parse, and each setting they show is one Onion knows
    (a sink's own table is checked by that sink)."""
    import tomllib

    from onion.core import config as config_mod
    from onion.core.errors import ConfigError

    blocks = re.findall(r"```toml\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert len(blocks) >= 4
    for text in blocks:
        data = tomllib.loads(text)
        cfg = config_mod.Config()
        sinks = data.pop("sinks", {})
        try:
            config_mod._fill(cfg, data, "README")
        except ConfigError as exc:
            raise AssertionError(f"{exc}\n{text}") from exc
        for name, table in sinks.items():
            assert isinstance(table.get("type"), str), name
