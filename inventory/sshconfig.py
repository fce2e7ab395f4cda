"""SSH details the inventory leaves out, from the user's ssh_config, as OpenSSH finds them.

The parsing is asyncssh's own (`asyncssh.config.SSHClientConfig`), the same code the
transport runs when it passes the config to `asyncssh.connect`, so what `onion hosts`
shows and the address/port used for known_hosts checks agree with the connection:
Host and Match blocks, first value wins, `%h`-style tokens, Include.

As with Ansible (which runs `ssh -p PORT -l USER ADDRESS`):
- the name looked up in `Host` patterns is the inventory's address if it gives one,
  else the host name;
- the inventory's port and user are fixed before the file is read, so they win over
  the file's (and `Match user` sees them), and its key files and jump host win too;
- `HostName` in the file still applies, as it would for `ssh ADDRESS`.

Also applied per host: `UserKnownHostsFile` and `GlobalKnownHostsFile` (checked beside
Onion's [ssh] known_hosts), `HostKeyAlias`, `IdentitiesOnly`, `ConnectTimeout`,
`ServerAliveInterval` and `ServerAliveCountMax`.

Not done: `CanonicalizeHostname` (needs DNS, and Onion stays cheap and offline);
`StrictHostKeyChecking` and `CheckHostIP`, which asyncssh does not read: host keys are
always verified, by [ssh] host_key_policy, and a file saying `StrictHostKeyChecking no` is
named on stderr (:func:`loose_host_key_checking`). `Match exec` runs its command, as
OpenSSH and asyncssh do.
"""

from __future__ import annotations

import getpass
import os
import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from asyncssh.config import SSHClientConfig
from asyncssh.misc import IllegalUserName

from onion.core.errors import ConfigError
from onion.core.i18n import _
from onion.inventory.model import Host, parse_jump

ConfigPaths = Sequence[str | os.PathLike[str]]


def default_config_paths() -> list[Path]:
    """The files OpenSSH reads, in its order: the user's, then the system's."""
    candidates = [Path("~", ".ssh", "config").expanduser(), Path("/etc/ssh/ssh_config")]
    return [p for p in candidates if os.access(p, os.R_OK)]


def resolve(host: Host, config_paths: ConfigPaths | None = None) -> Host:
    """`host` with address, port, user, key files and jump filled from ssh_config.

    `config_paths` None means `default_config_paths()`; `[]` reads nothing. Values the
    file does not give stay None (the connection then uses port 22 and the local user).
    """
    if host.local:
        return host
    paths = default_config_paths() if config_paths is None else [Path(p) for p in config_paths]
    # A missing file is an empty one, as OpenSSH reads ~/.ssh/config (a fresh account
    # has none); a file that is there but cannot be read is an error (_load).
    paths = [p for p in paths if p.exists()]
    if not paths:
        return host
    config = _load(host, paths, None)
    if config.has_match_final():  # OpenSSH reads the files a second time for these
        config = _load(host, paths, config)
    address = config.get("Hostname")
    port = config.get("Port")
    user = config.get("User")
    keys = config.get("IdentityFile") or []
    jump = host.jump or (str(config.get("ProxyJump")) if config.get("ProxyJump") else None)
    options = _options(config)
    hops = parse_jump(jump, host.name) if jump else ()
    return replace(
        host,
        address=str(address) if address else host.address,
        port=port if isinstance(port, int) else host.port,
        user=str(user) if user else host.user,
        key_files=host.key_files or tuple(str(k) for k in keys),
        jump=jump,
        # Each hop is a host of its own to ssh_config (its User, Port, IdentityFile).
        jump_hosts=tuple(resolve(h, paths) for h in hops),
        ssh_options={**options, **host.ssh_options},
    )


def _options(config: SSHClientConfig) -> dict[str, object]:
    """The options that change how Onion connects, as OpenSSH would apply them."""
    out: dict[str, object] = {}
    files = [*(config.get("UserKnownHostsFile") or []),
             *(config.get("GlobalKnownHostsFile") or [])]
    if files:
        out["known_hosts"] = tuple(str(Path(f).expanduser()) for f in files)
    for option, key in (("HostKeyAlias", "host_key_alias"),
                        ("IdentitiesOnly", "identities_only"),
                        ("ConnectTimeout", "connect_timeout"),
                        ("ServerAliveInterval", "keepalive_interval"),
                        ("ServerAliveCountMax", "keepalive_count_max")):
        value = config.get(option)
        if value is not None:
            out[key] = value
    return out


_LOOSE = re.compile(r"^\s*StrictHostKeyChecking\s*=?\s*(no|off)\b", re.I | re.M)


def loose_host_key_checking(paths: Sequence[Path]) -> list[Path]:
    """The ssh_config files that turn host key checking off. Onion does not follow them:
    keys are verified whatever they say ([ssh] host_key_policy decides), and the user is
    told so rather than left to think a poll trusts what ssh would."""
    found = []
    for p in paths:
        try:
            if _LOOSE.search(p.read_text(errors="replace")):
                found.append(p)
        except OSError:
            continue
    return found


def _load(host: Host, paths: list[Path], last: SSHClientConfig | None) -> SSHClientConfig:
    try:
        local_user = getpass.getuser()
    except (KeyError, OSError):
        local_user = ""
    try:
        return SSHClientConfig.load(
            last, paths, last is not None, False, last is not None, local_user,
            host.user if host.user is not None else (),
            host.target, host.port if host.port is not None else ())
    except (ValueError, IllegalUserName) as exc:  # ConfigParseError is a ValueError
        raise ConfigError(_("ssh config for {host}: {error}").format(
            host=repr(host.name), error=exc)) from None
    except OSError as exc:
        raise ConfigError(_("{path}: cannot read: {error}").format(
            path=exc.filename or "ssh config", error=exc.strerror)) from None
