"""Every recorded df (and BSD/macOS mount) output parses, or is listed here with why not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from onion.probes.base import ParseError
from onion.probes.filesystems import _MOUNT_MACOS, _MOUNT_OPENBSD, mount_types, parse_df
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
            parse_df(text)
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
            if "iused" in e:
                assert (r.inodes_used, r.inodes_free) == (e["iused"], e["ifree"])


# BSD-family `mount` prints "dev on /mnt (type, opts)"; OpenBSD adds "type T".
MOUNT_FORMAT = {"macos": _MOUNT_MACOS, "osx": _MOUNT_MACOS, "freebsd": _MOUNT_MACOS,
                "dragonfly": _MOUNT_MACOS, "openbsd": _MOUNT_OPENBSD}


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
