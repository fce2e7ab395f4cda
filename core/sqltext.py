"""Quoting for SQL text built from names: the one copy every engine's code uses."""

from __future__ import annotations


def ident(name: str) -> str:
    """A quoted identifier (table, column, view): ``"a""b"``."""
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    """A quoted string literal: ``'it''s'``."""
    return "'" + text.replace("'", "''") + "'"
