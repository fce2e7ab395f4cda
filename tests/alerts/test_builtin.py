"""The built-in rules on data shaped like the probes' tables."""

from __future__ import annotations

import datetime as dt
import json

from click.testing import CliRunner

from onion.cli.main import main
from tests.alerts.conftest import Fleet, recorder_argv, write_config


def firing(fleet: Fleet) -> set[tuple[str, str, str]]:
    return set(fleet.sql("SELECT rule, host, item FROM alerts WHERE state = 'firing'"))


def events(fleet: Fleet, rule: str) -> list[tuple[str, str, str]]:
    return fleet.sql("SELECT event, item, value FROM alert_events WHERE rule = ? "
                     "AND event IN ('firing', 'resolved') ORDER BY ts, item", [rule])


def fs(mount: str, pct: float, fstype: str = "ext4", inodes: tuple[int, int] = (10, 100)):
    return {"host": "a", "mount": mount, "device": "/dev/x", "fstype": fstype,
            "used_pct": pct, "inodes_used": inodes[0], "inodes_total": inodes[1]}


def test_filesystem_space_inodes_and_images(fleet):
    fleet.poll({"filesystems": [fs("/", 50), fs("/var", 95), fs("/snap/x", 100, "squashfs"),
                                fs("/home", 20, inodes=(95, 100))]})
    assert firing(fleet) == {("filesystem_full", "a", "/var"), ("filesystem_full", "a", "/home")}
    fleet.poll({"filesystems": [fs("/", 50), fs("/var", 88), fs("/home", 20)]})
    assert events(fleet, "filesystem_full")[-1] == ("resolved", "/home", "20")
    assert ("filesystem_full", "a", "/var") in firing(fleet)      # 88 %: not below 85 yet
    fleet.poll({"filesystems": [fs("/", 50)]})                       # /var unmounted: gone
    assert firing(fleet) == set()


def test_memory_and_load_wait_their_time(fleet):
    mem = {"memory": [{"host": "a", "total_bytes": 100, "available_bytes": 3}],
           "cpu": [{"host": "a", "ncpu": 4, "load_1m": 9.5}]}
    fleet.poll(mem)
    assert firing(fleet) == set()
    fleet.poll(mem)                                                  # 5 min
    assert firing(fleet) == {("memory_low", "a", "")}
    fleet.poll(mem, minutes=10)                                      # 15 min
    assert firing(fleet) == {("memory_low", "a", ""), ("load_high", "a", "")}


def test_sensor_above_critical_and_hot_gpu(fleet):
    fleet.poll({"temperatures": [
        {"host": "a", "chip": "coretemp", "sensor": "Core 0", "celsius": 101.0,
         "crit_celsius": 100.0},
        {"host": "a", "chip": "coretemp", "sensor": "Core 1", "celsius": 60.0,
         "crit_celsius": 100.0},
        {"host": "a", "chip": "acpi", "sensor": "t1", "celsius": 99.0}],
        "gpu": [{"host": "a", "index": 1, "uuid": "GPU-1", "temperature_celsius": 91.0}]})
    assert firing(fleet) == {("temperature_critical", "a", "coretemp / Core 0"),
                             ("gpu_hot", "a", "1 / GPU-1")}


def test_changes_are_events_told_once(fleet, tmp_path):
    write_config(fleet.cfg_path, f'''
[alerts]
notifiers = ["log"]
[notifiers.log]
type = "command"
argv = {recorder_argv(tmp_path / 'told.jsonl')}
''')
    boot = dt.datetime(2024, 1, 1)
    mods = ["ext4", "nvidia"]

    def rows(mods, boot, sha):
        return {"modules": [{"host": "a", "name": m} for m in mods],
                "system": [{"host": "a", "os": "linux", "kernel_name": "Linux",
                            "kernel_release": "6", "machine": "x86_64", "hostname": "a",
                            "boot_time": boot}],
                "files": [{"host": "a", "path": "/etc/passwd", "exists": True, "sha256": sha,
                           "size_bytes": 10}]}

    fleet.poll(rows(mods, boot, "1"))
    fleet.poll(rows(mods, boot, "1"))
    assert firing(fleet) == set()
    fleet.poll(rows(["ext4", "evil"], boot + dt.timedelta(hours=5), "2"))
    assert firing(fleet) == {("module_changed", "a", "evil"), ("module_changed", "a", "nvidia"),
                             ("host_rebooted", "a", ""), ("file_changed", "a", "/etc/passwd")}
    fleet.poll(rows(["ext4", "evil"], boot + dt.timedelta(hours=5, seconds=1), "2"))
    assert firing(fleet) == set()                                   # events: no recovery
    told = [json.loads(x) for x in (tmp_path / "told.jsonl").read_text().split("\n") if x]
    assert len(told) == 1                                           # one message for all
    assert {(a["rule"], a["item"], a["value"]) for a in told[0]["alerts"]} == {
        ("module_changed", "evil", "appeared"), ("module_changed", "nvidia", "vanished"),
        ("host_rebooted", "", "2024-01-01 05:00:00"), ("file_changed", "/etc/passwd", "content")}


def test_cli_shows_firing_and_history(fleet):
    fleet.poll({"filesystems": [fs("/var", 95)]})
    fleet.poll({"filesystems": [fs("/var", 96)]})
    fleet.poll({"filesystems": [fs("/var", 10)]})
    fleet.poll({"filesystems": [fs("/var", 97)]})
    opts = ["--config", str(fleet.cfg_path), "--db", str(fleet.db)]
    out = CliRunner().invoke(main, ["alerts", *opts])
    assert out.exit_code == 0, out.output
    assert "firing    warning  filesystem_full" in out.output and "/var" in out.output
    assert "(1 firing, 0 pending)" in out.output
    out = CliRunner().invoke(main, ["alerts", "history", "--since", "30d", *opts])
    lines = [x for x in out.output.splitlines() if "filesystem_full" in x]
    assert [x.split()[2] for x in lines] == ["firing", "resolved", "firing"]
    assert "after 10m00s" in lines[1]
    out = CliRunner().invoke(main, ["alerts", "test", "nonesuch", *opts])
    assert out.exit_code != 0 and "no rule 'nonesuch'" in out.output


def test_changes_compare_with_at_most_two_days_back(fleet):
    # Reading back to the first poll on every run would cost more every day.
    def files(sha: str) -> dict[str, list[dict[str, object]]]:
        return {"files": [{"host": "a", "path": "/etc/passwd", "exists": True, "sha256": sha,
                           "size_bytes": 10}]}

    fleet.poll(files("1"))
    fleet.poll(files("2"), minutes=24 * 60)           # a day later: still compared
    assert firing(fleet) == {("file_changed", "a", "/etc/passwd")}
    fleet.poll(files("3"), minutes=3 * 24 * 60)       # three days away: starts afresh
    assert firing(fleet) == set()
    fleet.poll(files("4"))
    assert firing(fleet) == {("file_changed", "a", "/etc/passwd")}
