"""What the poller needs to know about one host."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True, kw_only=True)
class Host:
    name: str                               # the inventory name; the `host` column everywhere
    address: str | None = None              # what to connect to; None: name (via ssh_config)
    port: int | None = None                 # None: ssh_config, then 22
    user: str | None = None                 # None: ssh_config, then the local user
    key_files: tuple[str, ...] = ()         # identity files; none: ssh_config/agent defaults
    jump: str | None = None                 # ProxyJump-style "user@host:port,..."
    groups: tuple[str, ...] = ()            # every group the host is in, parents included
    vars: Mapping[str, Any] = field(default_factory=dict)  # probes on/off, watch_files, thresholds
    local: bool = False                     # poll through the local transport, no SSH

    @property
    def target(self) -> str:
        return self.address or self.name


LOCALHOST = Host(name="localhost", local=True, groups=("local",))
