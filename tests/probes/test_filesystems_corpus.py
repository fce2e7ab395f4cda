"""Every recorded df (and BSD/macOS mount) output parses, or is listed here with why not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from onion.probes.base import OS, ParseError
from onion.probes.filesystems import _MOUNT_MACOS, _MOUNT_OPENBSD, PROBE, mount_types, parse_df
from tests.conftest import corpus_params

# Files deliberately not handled, and why (each must raise ParseError).
NOT_HANDLED = {
    "osx-10.14.6/df-h.out": "human-readable sizes (df -h): rounded, we run df -k",
    "osx-10.14.6/df-hh.out": "human-readable sizes (df -h): rounded, we run df -k",
    "ubuntu-18.04/df-h.out": "human-readable sizes (df -h): rounded, we run df -k",
}
# Recorded outputs of commands this probe does not run (read by no parser of ours):
# Linux `mount`, /proc/mounts, /proc/*/mountinfo and findmnt - GNU df -T (or --output)
# already gives the type, and df prints the mount point unescaped as its last column.
NOT_READ = ("*/mount*.out on Linux hosts", "*/proc-mounts*.out", "*/proc-*-mountinfo.out",
            "*/findmnt*.out")


@pytest.mark.parametrize("path", corpus_params("*/df*.out"))
def test_corpus_df(path: Path) -> None:
    key = f"{path.parent.name}/{path.name}"
    text = path.read_text()
    if key in NOT_HANDLED:
        with pytest.raises(ParseError):
            PROBE.parse(OS.LINUX, {"df": text})  # every row skipped: the probe's loss
        return
    records = parse_df(text)
    assert records
    jc = path.with_suffix(".json")
    if jc.exists():
        expected = json.loads(jc.read_text())
        assert [(r.device, r.mount) for r in records] == [
            (e["filesystem"], e["mounted_on"]) for e in expected]
        for r, e in zip(records, expected, strict=True):
            block = 512 if "512_blocks" in e else 1024
            blocks = e.get("512_blocks", e.get("1k_blocks", e.get("1024_blocks")))
            assert r.size_bytes == blocks * block
            assert (r.used_bytes, r.avail_bytes) == (e["used"] * block, e["available"] * block)
            assert r.used_pct == e.get("use_percent", e.get("capacity_percent"))
            if "iused" in e and e["iused"] + e["ifree"] == (1 << 63) - 1:
                # APFS: "unlimited" is printed as 2^63-1 inodes, a placeholder, not a count
                assert (r.inodes_used, r.inodes_free, r.inodes_total) == (e["iused"], None, None)
            elif "iused" in e:
                assert (r.inodes_used, r.inodes_free) == (e["iused"], e["ifree"])


@pytest.mark.parametrize("path", corpus_params("netbsd*/df*.out"))
def test_corpus_netbsd_df(path: Path) -> None:
    """NetBSD's parser takes POSIX df (-P) as well as its own -ki layout."""
    records = PROBE.parse(OS.NETBSD, {"df": path.read_text()})
    assert not records.skipped
    assert [(r.device, r.mount) for r in records] == [
        (r.device, r.mount) for r in parse_df(path.read_text())]
    assert records


# BSD-family `mount` prints "dev on /mnt (type, opts)"; OpenBSD adds "type T".
MOUNT_FORMAT = {"macos": _MOUNT_MACOS, "osx": _MOUNT_MACOS, "freebsd": _MOUNT_MACOS,
                "dragonfly": _MOUNT_MACOS, "openbsd": _MOUNT_OPENBSD, "netbsd": _MOUNT_OPENBSD}


@pytest.mark.parametrize("path", corpus_params("*/mount*.out"))
def test_corpus_bsd_mount(path: Path) -> None:
    family = path.parent.name.split("-")[0]
    if family not in MOUNT_FORMAT:
        pytest.skip(f"Linux mount output is not read by this probe ({NOT_READ[0]})")
    text = path.read_text()
    types = mount_types(text, MOUNT_FORMAT[family])
    assert len(types) == len({ln for ln in text.splitlines() if ln.strip()})
    jc = path.with_suffix(".json")
    if jc.exists():
        # jc keeps macOS's type as the first of the options
        assert types == {e["mount_point"]: e.get("type") or e["options"][0]
                         for e in json.loads(jc.read_text())}


def test_old_macos_mount_without_types_gives_null_types() -> None:
    """OS X before 10.5 printed the options alone; the first is no type. The automounter's
    lines of the recorded osx-10.14.6 output keep theirs (autofs)."""
    old = ("/dev/disk0s3 on / (local, journaled)\n"
           "automount -nsl [142] on /Network/Servers (automounted)\n"
           "/dev/disk1s2 on /Volumes/Backup (local, nodev, nosuid, journaled)\n")
    assert mount_types(old, _MOUNT_MACOS) == {"/": None, "/Network/Servers": None,
                                               "/Volumes/Backup": None}
    line = "map -hosts on /net (autofs, nosuid, automounted, nobrowse)\n"
    assert mount_types(line, _MOUNT_MACOS) == {"/net": "autofs"}


def test_apfs_unlimited_inodes_are_null() -> None:
    # macOS prints APFS's "no inode table" as ifree = 2^63-1 less iused: no count.
    text = ("Filesystem   1024-blocks     Used Available Capacity iused               ifree "
            "%iused  Mounted on\n"
            "/dev/disk1s4   976490576 12583000 660310352     2%      6 9223372036854775801"
            "    0%   /private/var/vm\n"
            "/dev/disk2s2    14463464 10887304   3576160    76%      8          4294967271"
            "    0%   /Volumes/InstallESD\n")
    vm, esd = parse_df(text)
    assert (vm.inodes_used, vm.inodes_free, vm.inodes_total) == (6, None, None)
    assert (esd.inodes_used, esd.inodes_free, esd.inodes_total) == (8, 4294967271, 4294967279)
