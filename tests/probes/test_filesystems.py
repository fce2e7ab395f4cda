"""df layouts with spaces, wrapped devices and odd values; fuzz: records or a ProbeError."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onion.probes.base import ParseError, ProbeError
from onion.probes.filesystems import PROBE, parse_df, parse_linux, parse_macos

GNU_OUTPUT = """\
Filesystem           Type       1K-blocks   Used   Avail Use% Inodes IUsed IFree Mounted on
sshfs#me@nas:/my dir fuse.sshfs  1000000 250000  750000  25%      0     0     0 /mnt/nas dir
/dev/sdb1            vfat          60000  10000   50000  17%      -     -     - /media/USB STICK
"""


def test_spaces_in_device_and_mount() -> None:
    nas, usb = parse_linux({"df": GNU_OUTPUT})
    assert (nas.device, nas.fstype, nas.mount) == ("sshfs#me@nas:/my dir", "fuse.sshfs",
                                                   "/mnt/nas dir")
    assert (usb.mount, usb.inodes_total, usb.used_bytes) == ("/media/USB STICK", None,
                                                             10000 * 1024)


def test_wrapped_long_device() -> None:
    text = ("Filesystem     Type 1K-blocks    Used Available Use% Mounted on\n"
            "/dev/mapper/vg_very_long_name-lv_root\n"
            "               ext4  51475068 1234567  47602869   3% /\n")
    [fs] = parse_df(text)
    assert (fs.device, fs.mount, fs.size_bytes) == ("/dev/mapper/vg_very_long_name-lv_root",
                                                    "/", 51475068 * 1024)


def test_512_byte_blocks_and_missing_percent() -> None:
    text = ("Filesystem  512-blocks      Used     Avail Capacity  Mounted on\n"
            "/dev/sd0a      2026012    395028   1529684    21%    /\n"
            "proc                 0         0         0     -     /proc\n")
    root, proc = parse_df(text)
    assert root.size_bytes == 2026012 * 512 and proc.used_pct is None


def test_macos_type_from_mount_and_inode_total() -> None:
    df = ("Filesystem    1024-blocks  Used Available Capacity iused ifree %iused  Mounted on\n"
          "map auto_home           0     0         0   100%       0     0  100%   /home dir\n")
    [fs] = parse_macos({"df": df, "mount": "map auto_home on /home dir (autofs, nobrowse)\n"})
    assert (fs.device, fs.fstype, fs.inodes_total) == ("map auto_home", "autofs", 0)


def test_unknown_header_is_refused() -> None:
    with pytest.raises(ParseError):
        parse_df("Filesystem Size Used Avail Use% Mounted on\n/dev/sda1 20G 5G 15G 25% /\n")


@given(st.text(max_size=300), st.text(max_size=100))
def test_fuzz(df: str, mount: str) -> None:
    try:
        records = parse_macos({"df": df, "mount": mount})
    except ProbeError:
        return
    assert all(type(r) is PROBE.record for r in records)


@given(st.lists(st.sampled_from([*GNU_OUTPUT.splitlines(), "x", "  ", "/dev/a", "1 2 3 4%"]),
                max_size=6))
def test_fuzz_lines(lines: list[str]) -> None:
    try:
        parse_linux({"df": "\n".join(lines)})
    except ProbeError:
        pass
