"""The release scheme, and one version everywhere: pyproject.toml, the package metadata,
``onion --version``, the daemon (API, OpenAPI, /metrics), the report's footer and the
CHANGELOG's newest entry."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from onion.cli.main import main
from onion.core import version
from onion.core.version import Channel, channel

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


@pytest.mark.parametrize(("text", "want"), [
    ("0.1", Channel.STABLE), ("0.1.0", Channel.STABLE), ("1.0", Channel.STABLE),
    ("0.0.1", Channel.UNSTABLE), ("0.0.3", Channel.UNSTABLE), ("0.1.1", Channel.UNSTABLE),
    ("0.0.2", Channel.TESTING), ("0.0.4", Channel.TESTING), ("2.3.10", Channel.TESTING),
    ("0.1.1.dev3", Channel.UNSTABLE), ("0.2rc1", Channel.UNSTABLE), ("0.1+local", Channel.UNSTABLE),
    ("0+unknown", Channel.UNSTABLE),
])
def test_channels(text: str, want: Channel) -> None:
    assert channel(text) == want


def test_pip_orders_the_channels_as_they_mean() -> None:
    packaging = pytest.importorskip("packaging.version")
    order = ["0.0.1", "0.0.2", "0.0.3", "0.1", "0.1.1", "0.1.2", "0.1.3", "0.2"]
    assert sorted(order, key=packaging.Version) == order
    assert packaging.Version("0.1") == packaging.Version("0.1.0")  # one stable, two spellings
    assert str(packaging.Version(PYPROJECT)) == PYPROJECT          # already normalised


def test_main_is_the_next_unstable_release() -> None:
    assert channel(PYPROJECT) == Channel.UNSTABLE, "main carries an odd micro version"
    assert version.__version__ == PYPROJECT, (
        "the installed metadata is older than pyproject.toml: pip install -e '.[test]'")


def test_cli_version() -> None:
    out = CliRunner().invoke(main, ["--version"]).output
    assert out == f"onion {PYPROJECT} ({channel(PYPROJECT)})\n"


def test_changelog_newest_entry() -> None:
    heads = re.findall(r"^## (\S+) — (\w+)", (ROOT / "CHANGELOG.md").read_text(), re.M)
    assert heads, "CHANGELOG.md has no '## X.Y.Z — channel' entries"
    assert heads[0] == (PYPROJECT, str(channel(PYPROJECT)))
    for v, ch in heads:   # every entry's channel is the scheme's
        assert channel(v) == ch, v


def test_report_footer(tmp_path: Path) -> None:
    import duckdb

    from onion.reports import render
    from tests.reports import fleet_data

    db = tmp_path / "onion.duckdb"
    with duckdb.connect(str(db)) as con:
        fleet_data.ensure_schema(con)
    index = render.write_report(db, tmp_path / "report")
    footer = re.search(r"<footer>(.*?)</footer>", index.read_text(), re.S)
    assert footer and f"Onion {PYPROJECT} ({channel(PYPROJECT)})" in footer.group(1)


def test_the_daemon_says_the_same(tmp_path: Path) -> None:
    from onion.daemon.client import Client

    env = {k: v for k, v in os.environ.items() if not k.startswith("ONION_")}
    env.update(HOME=str(tmp_path), ONION_DB=str(tmp_path / "onion.duckdb"))
    cfg = tmp_path / "onion.toml"
    cfg.write_text('[daemon]\ninterval = "1h"\n')
    daemon = subprocess.Popen([sys.executable, "-m", "onion.cli", "daemon", "--config",
                               str(cfg)], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
    client = Client(socket_path=Path(env["ONION_DB"] + ".sock"), timeout=30)
    try:
        deadline = time.monotonic() + 60
        while not client.alive():
            assert daemon.poll() is None and time.monotonic() < deadline, "no daemon"
            time.sleep(0.1)
        assert client.get("/healthz")["version"] == PYPROJECT
        assert client.get("/api/status")["version"] == PYPROJECT
        assert client.get("/api/openapi.json")["info"]["version"] == PYPROJECT
        build = [line for line in client.text("/metrics").splitlines()
                 if line.startswith("onion_build_info{")]
        assert len(build) == 1, build
        labels = dict(re.findall(r'(\w+)="([^"]*)"', build[0]))
        assert labels == {"version": PYPROJECT, "channel": str(channel(PYPROJECT))}
        assert float(build[0].rsplit(" ", 1)[1]) == 1
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.communicate(timeout=60)
