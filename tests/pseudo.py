"""The pseudo-locale ``qps`` in tests: what a text leaves outside its markers."""

from __future__ import annotations

import re


def unmarked(text: str, marked: re.Pattern[str]) -> str:
    """What is left of ``text`` outside the markers ``marked`` finds (nested ones too:
    the inner ones go first)."""
    while True:
        stripped = marked.sub(" ", text)
        if stripped == text:
            return text
        text = stripped
