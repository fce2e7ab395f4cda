"""``onion hosts``: the inventory with each host's last status."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from onion.cli.common import common, emit_rows, format_option, hosts_of, inventory_option, shown
from onion.cli.translated import Command
from onion.core import config as config_mod
from onion.core.i18n import N_, _, formats
from onion.core.status import HostStatus
from onion.storage import duck as store
from onion.storage import hoststate


@click.command(cls=Command)
@common
@inventory_option
@click.option("--rekey", metavar="HOST",
              help=N_("Forget HOST's recorded key (a reinstalled node)."))
@format_option
@click.option("--all-known-hosts", is_flag=True,
              help=N_("With --rekey: also edit the [ssh] known_hosts files (yours), not only "
                      "the keys Onion recorded itself."))
def hosts(cfg: config_mod.Config, inventory: str | None, limit: str | None,
          rekey: str | None, all_known_hosts: bool, fmt: str) -> None:
    """The inventory with each host's last status and its probes' state.

    Example: onion hosts -i hosts.ini --rekey node07
    """
    if rekey:
        _rekey(cfg, inventory, rekey, all_known_hosts)
        return
    inv = hosts_of(cfg, inventory, limit)
    states: dict[str, hoststate.HostState] = {}
    if cfg.db_path.exists():
        with store.reading(cfg.db_path) as con:
            states = hoststate.load(con)
    last = {name: (s.status, s.last_seen, s.last_ok, s.reason) for name, s in states.items()}
    probe_states = {name: s.probes_not_ok for name, s in states.items()}
    rows = []
    for h in inv:
        status, seen, ok_at, reason = last.get(h.name, ("never polled", None, None, None))
        target = "local" if h.local else f"{h.user + '@' if h.user else ''}{h.target}" \
            f"{':' + str(h.port) if h.port else ''}"
        rows.append((h.name, target, status, seen, ok_at, ",".join(h.groups), reason,
                     "; ".join(probe_states.get(h.name, []))))
    if fmt != "table":
        emit_rows(["host", "target", "status", "last_seen", "last_ok", "groups", "reason",
                   "probes_not_ok"], rows, fmt)
        return
    seen_text = {name: _seen(s.last_seen) for name, s in states.items()}
    # English as it always was; a language's dates line up however long its month is.
    width = 21 if formats().iso else max([21, *map(len, seen_text.values())])
    for h in inv:
        status, _seen_at, _ok, reason = last.get(h.name, (_("never polled"), None, None, None))
        target = "local" if h.local else f"{h.user + '@' if h.user else ''}{h.target}" \
            f"{':' + str(h.port) if h.port else ''}"
        groups = ",".join(h.groups)
        click.echo(f"{shown(h.name):28} {shown(target):32} {status:16} "
                   f"{seen_text.get(h.name, '-'):{width}} {groups}".rstrip())
        if reason and status != HostStatus.OK:
            click.echo(f"    {shown(reason)}")
        for s in probe_states.get(h.name, []):
            click.echo(f"    {shown(s)}")


def _seen(t: object) -> str:
    """A last poll's time for people: ISO 8601 with a Z in English (as JSON has it), the
    language's date and time (in UTC, saying so) in the others."""
    if not isinstance(t, dt.datetime):
        return "-"
    f = formats()
    return t.isoformat() + "Z" if f.iso else f.datetime(t, seconds=True)


def _rekey(cfg: config_mod.Config, inventory: str | None, name: str, everywhere: bool) -> None:
    """Forget a host's key as known_hosts names it: its inventory name and address, with
    ``[addr]:port`` for a port other than 22, hashed entries too."""
    from onion.poller import hostkeys

    names: set[str] = set()
    for h in hosts_of(cfg, inventory, None):
        if h.name == name and not h.local:
            names |= hostkeys.patterns(h.name, h.port) | hostkeys.patterns(h.target, h.port)
    if not names:  # not in the inventory: HOST is the name known_hosts has (addr or [addr]:port)
        names = {name}
    own = Path(cfg.ssh.accept_new_file).expanduser() if cfg.ssh.accept_new_file else None
    theirs = [Path(f).expanduser() for f in cfg.ssh.known_hosts]
    removed = hostkeys.forget(own, names) if own else 0
    for f in theirs:
        if f == own:
            continue
        if everywhere:
            removed += hostkeys.forget(f, names)
        elif f.is_file() and hostkeys.forget_count(f, names):
            click.echo(_("{file} also has key line(s) for {host}; left as they are (add "
                         "--all-known-hosts, or: ssh-keygen -R '{pattern}' -f {file})").format(
                file=f, host=shown(name), pattern=sorted(names)[0]), err=True)
    click.echo(_("removed {n} key line(s) for {host} ({patterns}); its next poll records the "
                 "new key with host_key_policy = \"accept-new\", or add it to known_hosts "
                 "yourself").format(n=removed, host=shown(name), patterns=", ".join(sorted(names))))
