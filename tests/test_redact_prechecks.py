"""Masking with a cheap check before each built-in pattern masks exactly what running
every pattern did (kept here as it was) on the command lines of the fixtures and on
random ones made of the pieces the patterns look for, letters (?i) folds included."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from onion.poller import redact
from onion.poller.redact import DEFAULT
from tests.test_security import MASKED, UNTOUCHED

FIXTURES = Path(__file__).parent / "fixtures"


def before(text: str) -> str:
    """The masking before the per-pattern checks."""
    if not text:
        return text
    low = text.lower()
    if any(word in low for word in redact._TRIGGERS):
        for _, pattern, *_checks in redact._DEFAULTS:
            text = pattern.sub(redact._mask_named, text)
        first = text.split(None, 1)[0] if text.strip() else ""
        if redact._MYSQL.search(first):
            text = redact._MYSQL_P.sub(redact._mask_named, text)
    return text


PIECES = ["pass", "PASS", "word", "pwd", "secret", "token", "api", "key", "_", "-", "--",
          "-p", "-P", "=", "://", "@", ":", "/", "bearer", "Basic", " ", "  ", "\t", "x",
          "hunter2", "credential", "s", "mysql", "/usr/bin/mysqldump", "mariadb", "&",
          "ſ", "ı", "İ", "K", "\u0307", "é", "*", "https", "db", "abcdefgh1234", ".",
          "paſſ", "ſecret", "credentİal", "baſıc", "\u212aey", "pİ"]


def _random_lines(n: int) -> list[str]:
    rng = random.Random(17)
    return ["".join(rng.choice(PIECES) for _ in range(rng.randrange(1, 14)))
            for _ in range(n)]


def _fixture_lines() -> list[str]:
    lines = [*(raw for raw, _ in MASKED), *UNTOUCHED]
    for f in sorted(FIXTURES.glob("*/processes--*--ps.out")):
        lines += f.read_text(errors="replace").splitlines()
    return lines


def test_known_command_lines_are_masked_as_before() -> None:
    lines = _fixture_lines()
    assert len(lines) > 50
    assert [DEFAULT(x) for x in lines] == [before(x) for x in lines]


def test_random_command_lines_are_masked_as_before() -> None:
    lines = _random_lines(30_000)
    masked = [before(x) for x in lines]
    assert [DEFAULT(x) for x in lines] == masked
    # the lines hold what each pattern masks, and what the checks must let through
    assert sum(m != x for m, x in zip(masked, lines, strict=True)) > 500


@pytest.mark.parametrize(("raw", "want"), [
    ("app --paſſword hunter2", "app --paſſword ***"),            # (?i): ſ is s
    ("x TOKEN=1 --credentİal=s3", "x TOKEN=*** --credentİal=***"),
    ("ssh -p22 -o basıc abcdefgh1234", "ssh -p22 -o basıc ***"),  # "-p" let it be looked at
])
def test_folded_letters_still_reach_the_patterns(raw: str, want: str) -> None:
    assert DEFAULT(raw) == before(raw) == want
