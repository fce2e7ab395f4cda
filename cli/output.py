"""Printing rows as a table for people, CSV or JSON for programs; text from hosts made safe
for a terminal. Standard library and click only: `onion ctl` prints with it and must
start fast."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Sequence
from typing import Any

import click

from onion.core.i18n import N_, ngettext


def format_option(f: Callable[..., Any]) -> Callable[..., Any]:
    """--format: a table for people, CSV or JSON (exact values, never translated)."""
    return click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]),
                        default="table", show_default=True,
                        help=N_("table for people; csv or json for programs."))(f)


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.6g}"  # a FLOAT column's 1.340000033378601 is 1.34 to a person
    return str(v)


def emit_rows(cols: Sequence[str], rows: Sequence[Sequence[Any]], fmt: str) -> None:
    """Rows as a table for people (numbers rounded), or CSV / JSON for programs (exact)."""
    if fmt == "json":
        click.echo(json.dumps([dict(zip(cols, r, strict=True)) for r in rows],
                              default=str, indent=1))
    elif fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(cols)
        w.writerows(rows)
        click.echo(buf.getvalue(), nl=False)
    else:
        texts = [[shown(_cell(v)) for v in r] for r in rows]
        widths = [max([len(c), *(min(len(t[i]), 60) for t in texts)]) for i, c in enumerate(cols)]
        click.echo("  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)).rstrip())
        click.echo("  ".join("-" * w for w in widths))
        for t in texts:
            cells = [(v if len(v) <= 60 else v[:59] + "…").ljust(w)
                     for v, w in zip(t, widths, strict=True)]
            click.echo("  ".join(cells).rstrip())
        click.echo(ngettext("({n} row)", "({n} rows)", len(rows)).format(n=len(rows)))


_CONTROL = {c: f"\\x{c:02x}" for c in [*range(32), 127]}


def shown(text: object) -> str:
    """Text from a host or an inventory, safe on one terminal line: control characters
    (a newline would forge a line of output) written as \\xNN."""
    return str(text).translate(_CONTROL)
