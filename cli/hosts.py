"""``onion hosts``: the inventory with each host's last status."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import click

from onion.cli.common import common, hosts_of, inventory_option, shown
from onion.core import config as config_mod
from onion.core.status import HostStatus
from onion.storage import duck as store


@click.command()
@common
@inventory_option
@click.option("--rekey", metavar="HOST", help="Forget HOST's recorded key (a reinstalled node).")
def hosts(cfg: config_mod.Config, inventory: str | None, limit: str | None,
          rekey: str | None) -> None:
    """The inventory with each host's last status and its probes' state."""
    if rekey:
        from onion.poller import hostkeys
        n = 0
        for f in [cfg.ssh.accept_new_file, *cfg.ssh.known_hosts]:
            n += hostkeys.forget(Path(f), rekey)
        click.echo(f"removed {n} key line(s) for {rekey}; its next poll records the new key "
                   "with host_key_policy = \"accept-new\", or add it to known_hosts yourself")
        return
    inv = hosts_of(cfg, inventory, limit)
    last: dict[str, tuple[Any, ...]] = {}
    probe_states: dict[str, list[str]] = {}
    if cfg.db_path.exists():
        with store.reading(cfg.db_path) as con:
            for row in con.execute("SELECT host, last_status, last_seen, last_ok, last_reason "
                                   "FROM hosts").fetchall():
                last[row[0]] = row[1:]
            for host, probe, status, reason in con.execute(
                    "SELECT host, probe, status, reason FROM latest_probe_results "
                    "WHERE status <> 'ok' ORDER BY host, probe").fetchall():
                probe_states.setdefault(host, []).append(f"{probe}: {status} ({reason})")
    for h in inv:
        status, seen, _ok, reason = last.get(h.name, ("never polled", None, None, None))
        target = "local" if h.local else f"{h.user + '@' if h.user else ''}{h.target}" \
            f"{':' + str(h.port) if h.port else ''}"
        groups = ",".join(h.groups)
        click.echo(f"{shown(h.name):28} {shown(target):32} {status:16} "
                   f"{seen.isoformat() + 'Z' if isinstance(seen, dt.datetime) else '-':21} "
                   f"{groups}".rstrip())
        if reason and status != HostStatus.OK:
            click.echo(f"    {shown(reason)}")
        for s in probe_states.get(h.name, []):
            click.echo(f"    {shown(s)}")
