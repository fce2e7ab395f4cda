"""NetBSD's own parsers: the layouts it prints unlike the other BSDs (sources: NetBSD's
df.c prtstat, envstat.c print_sensors, modstat main.c, sysctl.c, vmstat.c dosum)."""

from __future__ import annotations

import pytest

from onion.poller.plan import build
from onion.probes import cpu, files, filesystems, memory, modules, network, temperatures
from onion.probes.base import OS, ParseError
from onion.probes.registry import installed


def test_uname_maps_to_netbsd_and_the_script_has_its_case() -> None:
    assert OS.from_uname("NetBSD\n") is OS.NETBSD
    text = build(installed().values(), token="t0").text
    block = text.split("\nNetBSD)\n", 1)[1].split("\n;;", 1)[0]
    for command in ("modstat", "envstat", "df -ki", "netstat -i -n -d -v", "vmstat -s",
                    "sysctl -n hw.physmem64", "iostat -dI $disks"):
        assert command in block, command
    assert "nvidia-smi" not in block  # gpu probes are unsupported there


# df -ki: the device padded to the longest one, then "%10d": a ten-digit size touches it.
DF = (
    "Filesystem      1K-blocks\t      Used\tAvail %Cap\t  iUsed\t iAvail %iCap Mounted on\n"
    "/dev/wd0a        30497726    4104310   24868530  14%   187339  3644179   5% /\n"
    "nas:/vol/backup8589934592 1234567890 7355366702  14%  2210331 266225189   1% /mnt/b k\n"
    "/dev/wd1e         1032142    1032142      -4021 100%       11   258031   0% /full\n"
)


def test_df_cuts_the_device_by_position() -> None:
    rows = filesystems.parse_netbsd({"df": DF, "mount": "nas:/vol/backup on /mnt/b k type nfs"
                                                        " (nodev, nosuid)\n"})
    assert not rows.skipped
    by_mount = {r.mount: r for r in rows}
    nfs = by_mount["/mnt/b k"]
    assert (nfs.device, nfs.fstype, nfs.size_bytes) == ("nas:/vol/backup", "nfs",
                                                         8589934592 * 1024)
    assert (nfs.inodes_used, nfs.inodes_free, nfs.inodes_total) == (2210331, 266225189,
                                                                    268435520)
    assert by_mount["/"].fstype is None  # mount did not list it
    assert by_mount["/full"].avail_bytes == 0  # root's reserve in use: nothing for users


def test_df_odd_row_is_skipped_and_other_headers_refused() -> None:
    rows = filesystems.PROBE.parse(OS.NETBSD, {"df": DF + "/dev/wd2a  garbled\n"})
    assert len(rows) == 3 and rows.skipped == ["/dev/wd2a  garbled"]
    with pytest.raises(ParseError):
        filesystems.parse_netbsd({"df": "Filesystem 1K-blocks Used Avail Mounted on\n"})


ENVSTAT = """\
                      Current  CritMax  WarnMax  WarnMin  CritMin  Unit
[acpitz0]
       temperature:    27.800   95.000                             degC
[itesio0]
           CPU Fan:      1320                        600            RPM
             Vcore:     1.104                                         V
       System Temp:    41.000            70.000                    degC
          Aux Temp:       N/A
           Intrude:       N/A
[acpibat0]
          charging:      TRUE
"""


def test_envstat_places_each_limit_by_its_column() -> None:
    temps = {(t.chip, t.sensor): t for t in temperatures.parse_netbsd({"envstat": ENVSTAT})}
    assert set(temps) == {("acpitz0", "temperature"), ("itesio0", "System Temp"),
                          ("itesio0", "Aux Temp")}  # fans, volts, indicators are not ours
    zone, board, aux = (temps[k] for k in [("acpitz0", "temperature"),
                                           ("itesio0", "System Temp"), ("itesio0", "Aux Temp")])
    assert (zone.celsius, zone.high_celsius, zone.crit_celsius) == (27.8, None, 95.0)
    assert (board.celsius, board.high_celsius, board.crit_celsius) == (41.0, 70.0, None)
    assert aux.celsius is None  # invalid sensor: kept, no reading


def test_envstat_misplaced_value_is_skipped_and_statistics_refused() -> None:
    shifted = ENVSTAT.replace("   27.800   95.000 ", "   27.800  95.000  ")
    got = temperatures.PROBE.parse(OS.NETBSD, {"envstat": shifted})
    assert len(got.skipped) == 1 and "95.000" in got.skipped[0]
    with pytest.raises(ParseError):  # envstat -S (statistics) has other columns
        temperatures.parse_netbsd({"envstat": "        Current      Max      Min      Avg"
                                              "   Unit\n"})


def test_modstat_netbsd5_and_dash_k_layouts() -> None:
    old = ("NAME\t\tCLASS\tSOURCE\tREFS\tSIZE\tREQUIRES\n"
           "compat          misc\tfilesys\t1\t86016\t-\n"
           "compat_linux    exec\tfilesys\t0\t180224\tcompat,ptyfs\n"
           "ptyfs           vfs\tbuiltin\t1\t-\t-\n")
    rows = {m.name: m for m in modules.parse_netbsd({"modstat": old})}
    assert rows["compat"].used_by == "compat_linux" and rows["ptyfs"].size_bytes is None
    assert rows["compat_linux"].use_count == 0 and rows["compat_linux"].used_by is None
    with_k = ("NAME             CLASS    SOURCE   FLAG REFS  ADDRESS          SIZE    REQUIRES \n"
              "pf               driver   filesys  -    0     ffffffff82a1c000 360448  -\n")
    (pf,) = modules.parse_netbsd({"modstat": with_k})
    assert (pf.address, pf.size_bytes) == ("ffffffff82a1c000", 360448)


def test_cpu_named_states_and_a_garbled_cp_time() -> None:
    text = ("vm.loadavg: 0.27 0.19 0.12\n"
            "kern.cp_time: user = 200, nice = 100, sys = 300, intr = 50, idle = 1000\n"
            "kern.clockrate: tick = 10000, tickadj = 40, hz = 100, profhz = 100, stathz = 50\n"
            "hw.ncpuonline = 4\n")
    (row,) = cpu.parse_netbsd({"sysctl": text})
    assert (row.ncpu, row.user_seconds, row.nice_seconds, row.system_seconds,
            row.irq_seconds, row.idle_seconds, row.spin_seconds) == (4, 4, 2, 6, 1, 20, None)
    garbled = cpu.PROBE.parse(OS.NETBSD, {"sysctl": text.replace("sys = 300", "sys = x")})
    assert garbled[0].user_seconds is None and garbled[0].load_1m == 0.27
    assert garbled.skipped and "sys = x" in garbled.skipped[0]


def test_vmstat_name_cache_lines_are_known_and_the_file_cache_counted() -> None:
    text = ("     4096 bytes per page\n"
            "  3120544 pages free\n"
            "   151720 pages active\n"
            "   402218 pages inactive\n"
            "    76102 pages wired\n"
            "   433010 cached file pages\n"
            "  1048576 swap pages\n"
            "     1289 swap pages in use\n"
            "   998212 total name lookups\n"
            "          cache hits (90% pos + 6% neg) system 0% per-process\n"
            "          deletions 0%, falsehits 0%, toolong 0%\n")
    got = memory.PROBE.parse(OS.NETBSD, {"physmem": "16588787712\n", "vmstat": text})
    assert not got.skipped
    (row,) = got
    assert row.cached_bytes == 433010 * 4096
    assert row.available_bytes == (3120544 + 402218) * 4096
    assert row.swap_used_bytes == 1289 * 4096


def test_netstat_full_names_and_queue_drops() -> None:
    packets = ("Name  Mtu   Network       Address              Ipkts Ierrs Idrops    Opkts "
               "Oerrs Colls Odrops\n"
               "vioif0 1500  <Link>        58:9c:fc:0c:f0:97 48213377     0     12 39920811 "
               "    0     0      3\n"
               "bridge0* 1500  <Link>        f2:0b:a4:07:6e:55        0     0      0        0 "
               "    0     0      0\n")
    rows = {r.interface: r for r in network.PROBE.parse(OS.NETBSD, {"netstat": packets})}
    assert (rows["vioif0"].up, rows["vioif0"].rx_dropped, rows["vioif0"].tx_dropped) == (
        True, 12, 3)
    assert rows["bridge0"].up is False


def test_files_fragment_hashes_with_cksum() -> None:
    (part,) = files.PROBE.parts[OS.NETBSD]
    sh = part.sh({"watch_files": ["/etc/rc.conf"]})
    assert "cksum -a SHA256 -n --" in sh and "sha256 -q" not in sh
