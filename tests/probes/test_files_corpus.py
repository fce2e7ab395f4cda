"""files: the corpus holds other commands' formats (stat's default report, ``sha256sum *``);
our fragment prints its own framed lines, so they serve as references only."""

from __future__ import annotations

import json

import pytest

from onion.probes.base import OS, ParseError
from onion.probes.files import PROBE

NOT_HANDLED = [
    ("*/stat.out", "stat's default multi-line report; the fragment prints stat -c/-f fields"),
    ("*/stat-missing-data.out", "stat's default report, truncated"),
    ("*/sha256sum.out", "sha256sum prints (and escapes) names; the fragment hashes stdin"),
    ("*/shasum.out", "SHA-1 sums of named files, not our framing"),
]


@pytest.mark.parametrize(("pattern", "why"), NOT_HANDLED, ids=[n[0] for n in NOT_HANDLED])
def test_not_handled(corpus, pattern, why) -> None:
    files = sorted(corpus.glob(pattern))
    assert files, f"no corpus file for {pattern}"
    for path in files:
        for os in (OS.LINUX, OS.FREEBSD):
            with pytest.raises(ParseError):
                PROBE.parse(os, {"stat": path.read_text(errors="surrogateescape")})


def test_real_sha256_values_are_accepted(corpus) -> None:
    """Every digest sha256sum printed (jc's parse) fits the H line the parser accepts."""
    digests = [e["hash"] for e in json.loads((corpus / "centos-7.7/sha256sum.json").read_text())]
    assert digests
    text = "".join(f"P {i:02x}\nS 81a4 0 0 0 0 root:root\nH {d}\n" for i, d in enumerate(digests))
    assert [f.sha256 for f in PROBE.parse(OS.LINUX, {"stat": text})] == digests
