"""Onion's own inventory format: YAML with a top-level `onion: 1`.

Example::

    onion: 1                          # marks the file as an Onion inventory, version 1

    defaults:                         # every host; lowest precedence
      user: monitor
      key: ~/.ssh/onion_ed25519       # or keys: [a, b]
      vars:
        probes: {gpu: false}

    hosts:
      login1.example.com:
        address: 192.0.2.10           # what to connect to (default: the name)
        port: 2222
        jump: admin@gateway.example.com   # ProxyJump syntax: [user@]host[:port][,...]
        vars:
          watch_files: [/etc/passwd, /etc/ssh/sshd_config]
      node[01:16].cluster: {}         # a range defines node01.cluster … node16.cluster
      workstation:
        local: true                   # poll through the local transport, no SSH
        groups: [desk]                # groups may be given on the host, too

    groups:
      compute:
        hosts: ["node[01:16].cluster"]
        user: hpc                     # connection settings work on groups as well
        jump: login1.example.com
      gpu:
        hosts: ["node[13:16].cluster"]
        vars: {probes: {gpu: true}}
      cluster:
        children: [compute, gpu]
        vars: {thresholds: {load_1m_pct: 90}}

Quote a range inside a flow list (`["node[01:16].cluster"]`): unquoted, YAML reads the
brackets as a nested list and the file does not parse.

Keys: `address` (hosts only); `port`, `user`, `key`/`keys`, `jump`, `local` and
`vars` (anywhere); `groups` (hosts), `hosts` and `children` (groups). Unknown keys are
errors, so a typo does not pass silently.

Precedence is Ansible's, for settings and vars alike: defaults < parent group < child
group < host; groups at the same depth merge in name order. Values are replaced, not
deep-merged: a `probes` mapping in `gpu` replaces the one from `defaults` whole.
A host named in a group but not under `hosts` is created with no settings of its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from onion.core.errors import ConfigError
from onion.core.i18n import _
from onion.inventory import ranges
from onion.inventory.model import Host
from onion.inventory.tree import FlatHost, Tree, flatten
from onion.inventory.yamlfile import where

MARKER = "onion"
VERSION = 1
_SETTINGS = {"port", "user", "key", "keys", "jump", "local", "vars"}
_HOST_KEYS = _SETTINGS | {"address", "groups"}
_GROUP_KEYS = _SETTINGS | {"hosts", "children"}
_TOP_KEYS = {MARKER, "defaults", "hosts", "groups"}
_RESERVED = {"all", "ungrouped"}


def is_native(data: Any) -> bool:
    return isinstance(data, dict) and MARKER in data


def load(path: Path, data: Any) -> list[Host]:
    return [_to_host(flat) for flat in flatten(parse(data, str(path)))]


def parse(data: Any, source: str) -> Tree:
    if not is_native(data):
        raise ConfigError(_("{where}: an Onion inventory starts with `{marker}`").format(
            where=source, marker=f"{MARKER}: {VERSION}"))
    if data[MARKER] != VERSION:
        raise ConfigError(_("{where}: unsupported Onion inventory version {version} (this "
                            "Onion reads {supported})").format(
            where=where(source, data, MARKER), version=repr(data[MARKER]), supported=VERSION))
    _check_keys(data, _TOP_KEYS, _("the top level"), source)
    tree = Tree(source)
    defaults = _mapping(data, "defaults", source)
    _check_keys(defaults, _SETTINGS, "defaults", source)
    _settings(tree.group("all"), defaults, source)
    for pattern, body in _mapping(data, "hosts", source).items():
        at = where(source, data["hosts"], pattern)
        body = {} if body is None else body
        if not isinstance(body, dict):
            raise ConfigError(_("{where}: host {host} must be a mapping, got {type}").format(
                where=at, host=repr(pattern), type=type(body).__name__))
        _check_keys(body, _HOST_KEYS, _("host {host}").format(host=repr(pattern)), source)
        for name in _names(pattern, at):
            entry = tree.host(name)
            _settings(entry, body, source)
            if "address" in body:
                entry.settings["address"] = _str(body, "address", source)
            for group in _names_list(body, "groups", source):
                _group_name(group, where(source, body, "groups"))
                tree.host(name, group)
    for group_name, body in _mapping(data, "groups", source).items():
        at = where(source, data["groups"], group_name)
        _group_name(str(group_name), at)
        body = {} if body is None else body
        if not isinstance(body, dict):
            raise ConfigError(_("{where}: group {group} must be a mapping, got {type}").format(
                where=at, group=repr(group_name), type=type(body).__name__))
        _check_keys(body, _GROUP_KEYS, _("group {group}").format(group=repr(group_name)),
                    source)
        group = tree.group(str(group_name))
        _settings(group, body, source)
        for pattern in _names_list(body, "hosts", source):
            for name in _names(pattern, where(source, body, "hosts")):
                tree.host(name, group.name)
        for child in _names_list(body, "children", source):
            _group_name(child, where(source, body, "children"))
            tree.add_child(group.name, child)
    return tree


def _to_host(flat: FlatHost) -> Host:
    s = flat.settings
    keys = s.get("keys", ())
    return Host(name=flat.name, address=s.get("address"), port=s.get("port"),
                user=s.get("user"), key_files=tuple(keys), jump=s.get("jump"),
                groups=flat.groups, vars=flat.vars, local=bool(s.get("local", False)))


def _settings(target: Any, body: dict, source: str) -> None:
    """Copy validated connection settings and vars of one layer onto a tree node."""
    out = target.settings
    if "port" in body:
        port = body["port"]
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise ConfigError(_("{where}: port must be a number from 1 to 65535, got "
                                "{value}").format(where=where(source, body, "port"),
                                                  value=repr(port)))
        out["port"] = port
    for name in ("user", "jump"):
        if name in body:
            out[name] = None if body[name] is None else _str(body, name, source)
    if "key" in body and "keys" in body:
        raise ConfigError(_("{where}: give `key` or `keys`, not both").format(
            where=where(source, body, "keys")))
    if "key" in body:
        out["keys"] = (_str(body, "key", source),) if body["key"] is not None else ()
    if "keys" in body:
        out["keys"] = tuple(_names_list(body, "keys", source))
    if "local" in body:
        if not isinstance(body["local"], bool):
            raise ConfigError(_("{where}: local must be true or false, got {value}").format(
                where=where(source, body, "local"), value=repr(body["local"])))
        out["local"] = body["local"]
    variables = _mapping(body, "vars", source)
    target.vars.update({str(k): v for k, v in variables.items()})


def _check_keys(body: dict, allowed: set[str], what: str, source: str) -> None:
    for key in body:
        if key not in allowed:
            raise ConfigError(_("{where}: unknown key {key} in {what} (expected one of: "
                                "{allowed})").format(where=where(source, body, key),
                                                     key=repr(key), what=what,
                                                     allowed=", ".join(sorted(allowed))))


def _mapping(body: dict, key: str, source: str) -> dict:
    value = body.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(_("{where}: {key} must be a mapping, got {type}").format(
            where=where(source, body, key), key=key, type=type(value).__name__))
    return value


def _str(body: dict, key: str, source: str) -> str:
    value = body[key]
    if isinstance(value, bool | dict | list) or value is None:
        raise ConfigError(_("{where}: {key} must be a string, got {value}").format(
            where=where(source, body, key), key=key, value=repr(value)))
    return str(value)


def _names_list(body: dict, key: str, source: str) -> list[str]:
    value = body.get(key)
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str | int) for v in value):
        raise ConfigError(_("{where}: {key} must be a list of names, got {value}").format(
            where=where(source, body, key), key=key, value=repr(value)))
    return [str(v) for v in value]


def _names(pattern: Any, at: str) -> list[str]:
    try:
        return ranges.expand(str(pattern))
    except ValueError as exc:
        raise ConfigError(_("{where}: bad host name {host}: {error}").format(
            where=at, host=repr(pattern), error=exc)) from None


def _group_name(name: str, at: str) -> None:
    if name in _RESERVED:
        raise ConfigError(_("{where}: {name} is implicit; use `defaults` for settings that "
                            "apply to every host").format(where=at, name=repr(name)))
