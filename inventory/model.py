"""What the poller needs to know about one host."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from onion.core.errors import ConfigError
from onion.core.i18n import _


@dataclass(frozen=True, slots=True, kw_only=True)
class Host:
    name: str                               # the inventory name; the `host` column everywhere
    address: str | None = None              # what to connect to; None: name (via ssh_config)
    port: int | None = None                 # None: ssh_config, then 22
    user: str | None = None                 # None: ssh_config, then the local user
    key_files: tuple[str, ...] = ()         # identity files; none: ssh_config/agent defaults
    jump: str | None = None                 # ProxyJump-style "user@host:port,..."
    # The jump hosts as hosts, first hop first: parsed from `jump` unless given (resolved
    # through ssh_config by inventory.sshconfig).
    jump_hosts: tuple[Host, ...] = ()
    groups: tuple[str, ...] = ()            # every group the host is in, parents included
    vars: Mapping[str, Any] = field(default_factory=dict)  # probes on/off, watch_files, thresholds
    local: bool = False                     # poll through the local transport, no SSH
    # What the user's ssh_config says for this host beyond address, port, user, keys and
    # jump (inventory.sshconfig): known_hosts files, host_key_alias, identities_only,
    # connect_timeout, keepalive_interval, keepalive_count_max.
    ssh_options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.jump and not self.jump_hosts:
            object.__setattr__(self, "jump_hosts", parse_jump(self.jump, self.name))

    @property
    def target(self) -> str:
        return self.address or self.name


def parse_jump(spec: str, where: str = "") -> tuple[Host, ...]:
    """ProxyJump syntax, ``[user@]host[:port][,...]`` (``[v6]:port`` too), as hosts.
    ``none`` (OpenSSH's way to turn an inherited ProxyJump off) is no jump."""
    if spec.strip().lower() == "none":
        return ()
    hops = []
    for hop in spec.split(","):
        hop = hop.strip()
        user, _sep, hp = hop.rpartition("@")
        if hp.startswith("["):
            name, sep, port = hp[1:].partition("]")
            port = port.removeprefix(":") if sep else ""
        else:
            name, _sep, port = hp.partition(":")
        if not name or (port and not port.isdecimal()) or any(c.isspace() for c in hop) \
                or (port and not 0 < int(port) < 65536):
            text = _("jump host {hop} is not [user@]host[:port]").format(hop=repr(hop))
            raise ConfigError(f"{where}: {text}" if where else text)
        hops.append(Host(name=name, user=user or None, port=int(port) if port else None))
    return tuple(hops)


LOCALHOST = Host(name="localhost", local=True, groups=("local",))
