"""Fuzzing every registered probe on every OS it declares, and the section splitter.

Parsers are total (DESIGN.md): any text in every part gives records or a ProbeError
(ParseError / Unavailable), never another exception. Inputs are both arbitrary text and
committed fixtures with lines dropped, doubled, swapped for noise, or with a value
replaced by an absurd one (NaN, 2^64, negative sizes, ``+65261.8``), which reaches much
deeper into a parser than random text does.

The splitter takes arbitrary bytes in arbitrary chunks: it never raises, never holds more
than its caps, and the chunking never changes what it finds.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from onion.poller.sections import Splitter
from onion.probes.base import OS, ProbeError, Table, as_json
from onion.probes.registry import available
from onion.storage import duck as store
from onion.storage.batch import Batch
from onion.storage.schema import CORE, probe_table
from tests.conftest import EXAMPLE_PLUGINS

FIXTURES = Path(__file__).parent / "fixtures"
PROBES = available([EXAMPLE_PLUGINS])  # built-ins and the guide's drop-ins
CASES = [(name, os) for name, p in sorted(PROBES.items()) for os in p.parsers]

NASTY = ["NaN", "nan", "inf", "-inf", "-1", "-4096", "18446744073709551616", "1e400", "",
         "+65261.8", "65261.8 C", "N/A", "[N/A]", "-", "0x10", "1,5", "١٢٣", "\x00", "\ufffd",
         "9" * 40, "  ", ":", "%", "@@onion:", "Filesystem", "PID"]


def fixture_texts(probe: str, os: OS) -> dict[str, list[str]]:
    """Every committed text of each part of ``probe`` on ``os``."""
    out: dict[str, list[str]] = {}
    for folder in FIXTURES.glob(f"{os.value}-*"):
        for f in sorted(folder.glob(f"{probe}--*--*.out")):
            part = f.stem.split("--")[2]
            out.setdefault(part, []).append(f.read_text(errors="replace"))
    return out


@st.composite
def mutated(draw: st.DrawFn, seeds: list[str]) -> str:
    if not seeds or draw(st.booleans()):
        return draw(st.text(max_size=400))
    lines = draw(st.sampled_from(seeds)).splitlines()
    for _ in range(draw(st.integers(0, 4))):
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["drop", "dup", "noise", "value", "cut"]))
        if op == "drop":
            del lines[i]
        elif op == "dup":
            lines.insert(i, lines[i])
        elif op == "noise":
            lines[i] = draw(st.text(max_size=80))
        elif op == "cut":
            lines[i] = lines[i][: draw(st.integers(0, len(lines[i])))]
        else:
            words = lines[i].split(" ")
            j = draw(st.integers(0, len(words) - 1))
            words[j] = draw(st.sampled_from(NASTY))
            lines[i] = " ".join(words)
    return "\n".join(lines) + draw(st.sampled_from(["", "\n", "\r\n"]))


@pytest.mark.parametrize(("name", "os"), CASES, ids=[f"{n}-{o.value}" for n, o in CASES])
def test_every_parser_is_total(name: str, os: OS) -> None:
    probe = PROBES[name]
    part_names = [p.name for p in probe.parts[os]]
    seeds = fixture_texts(name, os)
    parts_st = st.fixed_dictionaries(
        {}, optional={p: mutated(seeds.get(p, [])) for p in part_names})

    con = duckdb.connect()  # what the parsers return is stored, as a poll would store it
    run_ids = itertools.count(1)

    @settings(max_examples=80, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(parts=parts_st)
    def check(parts: dict[str, str]) -> None:
        try:
            # The parser itself, not the safety net of Probe.parse: records, a Table with
            # the lines it skipped, or a ProbeError, never another exception.
            probe.parsers[os](parts)
        except ProbeError:
            pass
        try:
            records = probe.parse(os, parts)
        except ProbeError:
            return
        assert isinstance(records, Table) and records.record is probe.record
        # partial: a few lines skipped, each quoted as text; more would be parse_error
        assert all(isinstance(line, str) for line in records.skipped)
        if records.skipped:
            kept = len(records) if records.understood is None else records.understood
            assert len(records) and len(records.skipped) <= kept
        for r in records:
            assert type(r) is probe.record
            json.dumps(as_json(r))  # storable as a queue line
        # Any value a parser lets through must fit its column: a batch that fails to
        # store costs every host of the round (the %CPU = 1e39 finding).
        assert store.write_batch(con, _batch(next(run_ids), probe, records))

    try:
        check()
    finally:
        con.close()


def _batch(run_id: int, probe, records: Table) -> Batch:
    spec = probe_table(probe)
    n = len(records)
    data = {"runs": {c: [None] for c in CORE["runs"].names},
            probe.name: {"run_id": [run_id] * n, "host": ["h"] * n,
                         "ts": [dt.datetime(2026, 1, 1)] * n, **records.columns}}
    data["runs"]["run_id"] = [run_id]
    return Batch(run_id, {**CORE, probe.name: spec}, data)


def test_fuzz_covers_every_probe_and_os() -> None:
    assert {n for n, _ in CASES} == set(PROBES)
    assert len(CASES) >= 30


# -- the splitter ----------------------------------------------------------------------

TOKEN = b"0123456789abcdef01234567"
MARKER = b"@@onion:" + TOKEN
CAP = 64


def _pieces() -> st.SearchStrategy[bytes]:
    names = st.sampled_from([b"a.x", b"b.y", b"@/proc/x", b"", b"a.x b"])
    marker_lines = st.one_of(
        st.builds(lambda n: b"\n" + MARKER + b" begin " + n + b"\n", names),
        st.builds(lambda n, s: b"\n" + MARKER + b" end " + n + b" " + s + b"\n", names,
                  st.sampled_from([b"0", b"1", b"timeout", b"", b"x y"])),
        st.just(b"\n" + MARKER + b" os Linux\n"),
        st.just(b"\n" + MARKER + b" done\n"),
        st.just(b"\n" + MARKER + b" "),                       # a marker cut short
        st.just(b"\n@@onion:ffffffffffffffffffffffff end a.x 0\n"),  # a forged token
        st.just(b"\n" + MARKER + b" begin " + b"z" * 5000),   # a marker line that never ends
        st.just(b"\n" + MARKER + b" begin " + b"z" * 5000 + b"\n"),  # one too long to be ours
    )
    return st.one_of(st.binary(max_size=200), marker_lines)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pieces=st.lists(_pieces(), max_size=30), cuts=st.lists(st.integers(0, 12000)))
def test_splitter_never_raises_and_keeps_its_caps(pieces: list[bytes], cuts: list[int]) -> None:
    data = b"".join(pieces)
    bounds = sorted({0, len(data), *(c for c in cuts if c < len(data))})
    chunked = Splitter(MARKER, CAP)
    keep = len(MARKER) + 1
    for a, b in itertools.pairwise(bounds):
        chunked.feed(data[a:b])
        # Never more held back than an unfinished marker line (4 KiB) or a marker's length.
        assert len(chunked._buf) <= max(4096, keep)
    chunked.close()
    for s in chunked.sections.values():
        assert len(s.data) <= CAP
        s.text()  # any bytes decode (replacement characters), never raise
    assert len(chunked._stray) <= 1024
    assert chunked.stray_text() is not None
    # Chunking never changes what is found, marker lines over the 4 KiB guard included.
    whole = Splitter(MARKER, CAP)
    whole.feed(data)
    whole.close()
    assert {n: (bytes(s.data), s.status, s.truncated) for n, s in whole.sections.items()} \
        == {n: (bytes(s.data), s.status, s.truncated) for n, s in chunked.sections.items()}
    assert (whole.os, whole.done, whole.stray_bytes) == \
        (chunked.os, chunked.done, chunked.stray_bytes)
