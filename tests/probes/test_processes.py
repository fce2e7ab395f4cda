"""Tricky ps layouts, and a fuzz test: any text gives records or a ProbeError."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from onion.probes.base import OS, ProbeError
from onion.probes.processes import PROBE, duration, parse_bsd, parse_linux

# procps after an overflow (VSZ wider than its column) shortens later padding, so args
# still start under the header's last word while comm ("Web Content") moved left.
PROCPS_OVERFLOW = (
    "  PID  PPID   UID USER     STAT %CPU %MEM   RSS    VSZ     ELAPSED     TIME "
    "COMMAND         ARGS\n"
    " 8132     1  1000 alice+   S     3.9  0.0 13952 2113936      00:01 00:00:00 "
    "Web Content     firefox -contentproc\n")


def test_procps_comm_with_space_after_overflow() -> None:
    [p] = parse_linux({"ps": PROCPS_OVERFLOW})
    assert (p.comm, p.args, p.vsz_bytes) == ("Web Content", "firefox -contentproc",
                                             2113936 * 1024)
    assert p.user is None and p.uid == 1000  # '+' marks a cut name: keep the uid only


# BSD ps never catches up: an overflowing user name pushes the rest of the row right,
# and the name stays padded to its column width.
BSD_SHIFTED = (
    "  PID  PPID   UID USER     STAT %CPU %MEM    RSS      VSZ     ELAPSED      TIME "
    "UCOMM            ARGS\n"
    "  633   560   501 a_very_long_user S     1.1  0.4  61740  4421912    02:12:38   1:48.29 "
    "Sublime Text     /Applications/Sublime Text.app/x 560\n")


def test_bsd_comm_with_space_on_shifted_row() -> None:
    [p] = parse_bsd({"ps": BSD_SHIFTED})
    assert p.comm == "Sublime Text"
    assert p.args == "/Applications/Sublime Text.app/x 560"
    assert p.cpu_seconds == 108.29 and p.elapsed_seconds == 2 * 3600 + 12 * 60 + 38


BUSYBOX_FALLBACK = """\
PID   PPID  USER     RSS  VSZ  ELAPSED TIME   COMMAND
    1     0 root     1084 1632 77:06:40 0:02   /sbin/init
  312     1 nobody   98.1m 112m 10:05  0:00   httpd -f -h /var/www
"""


def test_busybox_units_and_plain_columns() -> None:
    init, httpd = parse_linux({"ps": BUSYBOX_FALLBACK})
    assert init.elapsed_seconds == 77 * 3600 + 6 * 60 + 40 and init.comm is None
    assert httpd.rss_bytes == round(98.1 * 1024 * 1024) and httpd.vsz_bytes == 112 << 20


def test_durations() -> None:
    assert duration("07-21:28:18", "") == 7 * 86400 + 21 * 3600 + 28 * 60 + 18
    assert duration("70123:45.12", "") == 70123 * 60 + 45.12
    assert duration("2506", "") == 2506  # procps etimes
    assert duration("00:19", "") == 19


@given(st.text(max_size=400))
def test_fuzz_linux(text: str) -> None:
    try:
        records = parse_linux({"ps": text})
    except ProbeError:
        return
    assert all(type(r) is PROBE.record for r in records)


@given(st.lists(st.sampled_from(PROCPS_OVERFLOW.splitlines() + BSD_SHIFTED.splitlines()
                                + ["", " ", "x", "1 2 3", "\t-"]), max_size=6),
       st.sampled_from([OS.LINUX, OS.MACOS]))
def test_fuzz_mixed_lines(lines: list[str], os: OS) -> None:
    try:
        PROBE.parsers[os]({"ps": "\n".join(lines)})
    except ProbeError:
        pass
