"""``onion parse``: a probe's parser on saved output."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from onion.cli.common import common, plugins_of
from onion.cli.translated import Command
from onion.core import config as config_mod
from onion.core.i18n import N_, _
from onion.core.plugins import PluginKind
from onion.probes.base import OS, ProbeError, as_json


@click.command(cls=Command)
@common
@click.argument("probe_name", metavar="PROBE")
@click.option("--os", "os_name", type=click.Choice([os.value for os in OS]),
              default="linux", show_default=True)
@click.option("--part", "parts", multiple=True, metavar="PART[=FILE]",
              help=N_("Which part FILE holds (default: the only part, or the one FILE parses "
                      "as); repeat as PART=FILE for several parts."))
@click.argument("file", type=click.File("rb"), default="-")
def parse(cfg: config_mod.Config, probe_name: str, os_name: str, parts: tuple[str, ...],
          file: Any) -> None:
    """Run PROBE's parser on saved output and print the records as JSON.

    Example: onion parse memory --os linux /proc/meminfo
    """
    probes = plugins_of(cfg).of(PluginKind.PROBE)
    if probe_name not in probes:
        raise click.ClickException(
            _("unknown probe {probe!r}; known: {known}").format(
                probe=probe_name, known=", ".join(sorted(probes))))
    probe = probes[probe_name]
    os = OS(os_name)
    if not probe.supports(os):
        raise click.ClickException(f"{probe_name}: {probe.why_unsupported(os)}")
    known = [p.name for p in probe.parts[os]]
    texts: dict[str, str] = {}
    single = [p for p in parts if "=" not in p]
    for spec in parts:
        if "=" in spec:
            name, path = spec.split("=", 1)
            texts[name] = Path(path).read_bytes().decode("utf-8", errors="replace")
    if single or not texts:
        text = file.read().decode("utf-8", errors="replace")
        name = single[0] if single else _pick_part(probe, os, known, text)
        texts[name] = text
    unknown = set(texts) - set(known)
    if unknown:
        raise click.ClickException(_("{probe} on {os} has parts {known}, not {unknown}").format(
            probe=probe_name, os=os_name, known=known, unknown=sorted(unknown)))
    try:
        records = probe.parse(os, texts)
    except ProbeError as exc:
        raise click.ClickException(f"{type(exc).__name__}: {exc}") from exc
    for line in records.skipped:  # a poll would store these records as `partial`
        click.echo("onion: " + _("partial: line not understood, left out: {line!r}").format(
            line=line), err=True)
    click.echo(json.dumps([as_json(r) for r in records], indent=1))


def _pick_part(probe: Any, os: OS, known: list[str], text: str) -> str:
    """The part a lone FILE holds: the only one, or the only one it parses as; else the
    list of parts to choose from, never a silent guess."""
    if len(known) == 1:
        return known[0]
    fits = []
    for name in known:
        try:
            if len(probe.parse(os, {name: text})):
                fits.append(name)
        except ProbeError:
            continue
    if len(fits) == 1:
        click.echo("onion: " + _("reading FILE as part {part!r} of {probe} (parts: {parts})")
                   .format(part=fits[0], probe=probe.name, parts=", ".join(known)), err=True)
        return fits[0]
    which = _("it parses as each of {parts}").format(parts=", ".join(fits)) if fits \
        else _("it parses as none of them")
    raise click.ClickException(
        _("{probe} on {os} reads {n} parts ({parts}) and {which}: say which with --part NAME, "
          "or give several as --part NAME=FILE").format(
            probe=probe.name, os=os.value, n=len(known), parts=", ".join(known), which=which))
