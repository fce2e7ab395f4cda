"""Every recorded ``ps`` output parses; values are checked against jc's parse where present."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from onion.probes.base import ParseError
from onion.probes.processes import parse_bsd, parse_linux
from tests.conftest import corpus_params

# Files deliberately not handled, and why (each must raise ParseError, never half-parse).
NOT_HANDLED = {
    "busybox/ps.out": "BusyBox's default STAT column holds spaces ('S <'); we never ask "
                      "BusyBox for STAT (our fallback -o list leaves it out)",
}


def _parser(path: Path):
    return parse_linux if path.parent.name.split("-")[0] in (
        "centos", "ubuntu", "busybox") else parse_bsd


@pytest.mark.parametrize("path", corpus_params("*/ps*.out"))
def test_corpus_ps(path: Path) -> None:
    key = f"{path.parent.name}/{path.name}"
    text = path.read_text(encoding="utf-8", errors="surrogateescape")
    if key in NOT_HANDLED:
        with pytest.raises(ParseError):
            _parser(path)({"ps": text})
        return
    records = _parser(path)({"ps": text})
    assert len(records) == len([ln for ln in text.splitlines() if ln.strip()]) - 1
    assert all(r.pid >= 0 and r.args for r in records)
    jc = path.with_suffix(".json")
    if jc.exists():
        expected = json.loads(jc.read_text())
        assert [r.pid for r in records] == [e["pid"] for e in expected]
        for r, e in zip(records, expected, strict=True):
            assert r.args == (e.get("command") or e.get("cmd")), r.pid
            if "cpu_percent" in e:
                assert r.cpu_pct == e["cpu_percent"]
                assert r.mem_pct == e["mem_percent"]
                assert r.vsz_bytes == e["vsz"] * 1024
                assert r.rss_bytes == e["rss"] * 1024
            if "ppid" in e:
                assert r.ppid == e["ppid"]
            _same_owner_and_time(r, e)
    _same_as_raw_text(text, records)


def _seconds(text: str) -> float:
    """jc's TIME string as seconds: ``0:03``, ``7:53.61``, ``00:00:03``, ``1-02:03:04``."""
    days, _, clock = text.rpartition("-")
    return int(days or 0) * 86400 + sum(float(x) * 60**i
                                        for i, x in enumerate(reversed(clock.split(":"))))


def _same_owner_and_time(r, e: dict) -> None:
    if "user" in e:  # procps marks a name it cut with '+': not the name, so NULL
        assert r.user == (None if e["user"].endswith("+") else e["user"]), r.pid
    if "uid" in e:
        # GNU ps -ef prints names in its UID column, macOS the number.
        assert (r.uid, r.user) == ((int(e["uid"]), None) if e["uid"].isdecimal()
                                   else (None, e["uid"])), r.pid
    if e.get("time"):
        assert r.cpu_seconds == pytest.approx(_seconds(e["time"])), r.pid


def _same_as_raw_text(text: str, records) -> None:
    """What the header names is what each row says, word by word (files without jc's
    parse too): user, pid, ppid and the command line's first word."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    head = lines[0].split()
    for line, r in zip(lines[1:], records, strict=True):
        words = line.split()
        for name, got in (("USER", r.user), ("PID", r.pid), ("PPID", r.ppid)):
            if name in head and not words[head.index(name)].endswith("+"):
                assert str(got) == words[head.index(name)], line
        if "UID" in head and "USER" not in head:
            assert str(r.uid if r.uid is not None else r.user) == words[head.index("UID")]
        assert line.rstrip().endswith(r.args), line


def test_gnu_ps_ef_names_its_users_in_the_uid_column() -> None:
    # procps prints the name, and the number only for a uid without a name.
    text = ("UID          PID    PPID  C STIME TTY          TIME CMD\n"
            "root           1       0  0 Oct25 ?        00:00:03 /sbin/init splash\n"
            "1001        4242       1  0 10:00 pts/0    01:02:03 -bash\n")
    rows = parse_linux({"ps": text})
    assert [(r.pid, r.ppid, r.uid, r.user, r.cpu_seconds, r.args) for r in rows] == [
        (1, 0, None, "root", 3.0, "/sbin/init splash"),
        (4242, 1, 1001, None, 3723.0, "-bash")]
