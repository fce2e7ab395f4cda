"""A plain list of hosts, one per line.

    # login nodes
    login1.example.com
    admin@login2.example.com:2222     # user and port
    node[01:04].cluster               # a range, as in Ansible
    [2001:db8::7]:2222                # IPv6 with a port goes in brackets
    2001:db8::8                       # bare IPv6, no port

`#` starts a comment; blank lines are skipped. A host listed twice is one host, the
later line's user and port winning, as Ansible merges repeated hosts.
"""

from __future__ import annotations

from pathlib import Path

from onion.core.errors import ConfigError
from onion.core.i18n import _
from onion.inventory import ranges
from onion.inventory.model import Host


def parse(text: str, source: str) -> list[Host]:
    hosts: dict[str, Host] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        for host in _parse_line(line, f"{source}:{number}"):
            old = hosts.get(host.name)
            if old is not None:
                host = Host(name=host.name, user=host.user or old.user,
                            port=host.port or old.port, groups=("ungrouped",))
            hosts[host.name] = host
    return list(hosts.values())


def _parse_line(line: str, at: str) -> list[Host]:
    if len(line.split()) != 1:
        raise ConfigError(_("{where}: expected one [user@]host[:port] per line, got {line}")
                          .format(where=at, line=repr(line)))
    user = None
    if "@" in line:
        user, _sep, line = line.rpartition("@")
        if not user:
            raise ConfigError(_("{where}: empty user name before '@' in {line}").format(
                where=at, line=repr(line)))
    try:
        host, port = ranges.split_port(line)
        names = ranges.expand(host)
    except ValueError as exc:
        raise ConfigError(_("{where}: bad host {line}: {error}").format(
            where=at, line=repr(line), error=exc)) from None
    if not host:
        raise ConfigError(_("{where}: no host name in {line}").format(where=at,
                                                                       line=repr(line)))
    return [Host(name=name, user=user, port=port, groups=("ungrouped",)) for name in names]


def load(path: Path, text: str) -> list[Host]:
    return parse(text, str(path))
