"""Every recorded module listing parses; values are checked against jc's parse where present."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from onion.probes.modules import parse_freebsd, parse_linux
from tests.conftest import corpus_params


@pytest.mark.parametrize("path", corpus_params("*/lsmod*.out") + corpus_params(
    "*/proc-modules*.out"))
def test_corpus_linux(path: Path) -> None:
    text = path.read_text()
    records = parse_linux({"modules": text})
    assert records and all(r.size_bytes for r in records)
    jc = path.with_suffix(".json")
    if jc.exists():
        expected = json.loads(jc.read_text())
        assert [(r.name, r.size_bytes, r.use_count) for r in records] == [
            (e["module"], e["size"], e["used"]) for e in expected]
        for r, e in zip(records, expected, strict=True):
            by = e.get("by", e.get("used_by")) or None
            assert (r.used_by.split(",") if r.used_by else None) == by, r.name
            if "status" in e:
                assert (r.state, r.address) == (e["status"], e["location"])


@pytest.mark.parametrize("path", corpus_params("*/kldstat*.out"))
def test_corpus_kldstat(path: Path) -> None:
    text = path.read_text()
    records = parse_freebsd({"kldstat": text})
    rows = [ln.split() for ln in text.splitlines()[1:] if ln.strip()]
    assert [(r.name, r.use_count, r.size_bytes) for r in records] == [
        (w[4], int(w[1]), int(w[3], 16)) for w in rows]
    assert records[0].name == "kernel"
