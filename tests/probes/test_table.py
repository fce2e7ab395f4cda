"""Records held column by column (probes.base.Table) and the checks Probe.parse makes."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onion.probes import processes
from onion.probes.base import OS, ParseError, Part, Probe, ProbeError, Table, col
from onion.probes.processes import Process


@dataclasses.dataclass(kw_only=True)
class Disk:
    name: str = col("VARCHAR", key=True)
    used: int | None = col("UINTEGER")


def _probe(parser) -> Probe:
    return Probe("disks", Disk, {OS.LINUX: (Part("x", sh="true"),)}, {OS.LINUX: parser})


def test_table_reads_as_its_records() -> None:
    recs = [Disk(name="a", used=1), Disk(name="b", used=None)]
    t = Table.of(Disk, recs)
    assert t.columns == {"name": ["a", "b"], "used": [1, None]}
    assert len(t) == 2 and t == recs and list(t) == recs and t[1] == recs[1]
    assert t[:1] == recs[:1] and t != recs[:1]
    assert Table.of(Disk, t) is t and Table.of(Disk, []) == []


def test_table_rejects_columns_that_are_not_the_fields() -> None:
    with pytest.raises(TypeError, match="not the fields"):
        Table(Disk, {"used": [1], "name": ["a"]})
    with pytest.raises(TypeError, match="different lengths"):
        Table(Disk, {"name": ["a"], "used": []})


def test_parse_returns_a_table_from_records_or_columns() -> None:
    from_list = _probe(lambda parts: [Disk(name="a", used=5)]).parse(OS.LINUX, {"x": ""})
    from_cols = _probe(lambda parts: Table(Disk, {"name": ["a"], "used": [5]})).parse(
        OS.LINUX, {"x": ""})
    assert isinstance(from_list, Table) and from_list == from_cols == [Disk(name="a", used=5)]


@pytest.mark.parametrize("used", [-1, 1 << 32])
def test_out_of_range_integer_is_a_parse_error(used: int) -> None:
    for parser in (lambda parts: [Disk(name="a", used=None), Disk(name="b", used=used)],
                   lambda parts: Table(Disk, {"name": ["a", "b"], "used": [None, used]})):
        with pytest.raises(ParseError, match=f"used = {used} is out of range"):
            _probe(parser).parse(OS.LINUX, {"x": ""})


def test_wrong_record_type_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match="returned Process, not Disk"):
        _probe(lambda parts: [Process(*[1] * 13)]).parse(OS.LINUX, {"x": ""})
    with pytest.raises(ParseError, match="table of Process"):
        _probe(lambda parts: Table.of(Process, [])).parse(OS.LINUX, {"x": ""})
    with pytest.raises(ParseError, match="not an integer"):  # a str where an int belongs
        _probe(lambda parts: [Disk(name="a", used="5")]).parse(OS.LINUX, {"x": ""})


# procps rows cut at the header's column (the fast path) must read exactly as the same rows
# located one by one: same values, and the same rows refused.
HEADER = ("  PID  PPID   UID USER     STAT %CPU %MEM   RSS    VSZ ELAPSED     TIME "
          "COMMAND         ARGS")
ROWS = [
    "    1     0     0 root     Ss    0.0  0.1 13056 168752   43741        2 "
    "systemd         /sbin/init splash",
    " 8132     1  1000 alice+   S     3.9  0.0 13952 2113936     1        0 "
    "Web Content     firefox -contentproc",
    "    2     0     0 root     S     0.0  0.0     0      0   43741        0 "
    "kthreadd        [kthreadd]",
]
word = st.text(alphabet="abcx0123456789+-:. ", min_size=0, max_size=12)


@given(rows=st.lists(st.tuples(st.sampled_from(ROWS), st.integers(0, 120), word), max_size=6))
def test_procps_fast_cut_agrees_with_row_by_row(rows: list[tuple[str, int, str]]) -> None:
    text = "\n".join([HEADER] + [r[:at] + w + r[at:] for r, at, w in rows])

    def row_by_row(*args: object) -> int:  # the same locator, but not the fast path's
        return processes._args_at_header(*args)  # type: ignore[arg-type]

    def outcome(locate: processes.Locate) -> object:
        try:
            return processes._parse(text, locate).columns
        except ProbeError as exc:
            return type(exc), str(exc)

    assert outcome(processes._args_at_header) == outcome(row_by_row)
