"""Ansible inventories, INI and YAML, read the way `ansible-inventory` reads them.

INI::

    gateway ansible_host=192.0.2.1          # before any section: ungrouped
    [compute]
    node[01:20].example.com ansible_user=hpc
    gpu1 ansible_host=10.0.0.50 ansible_port=2222 note="a quoted value"
    [compute:vars]
    ansible_ssh_common_args='-o ProxyJump=admin@gateway'
    [cluster:children]
    compute

YAML::

    all:
      vars: {ansible_user: hpc}
      children:
        compute:
          hosts:
            node[01:20].example.com:
            gpu1: {ansible_host: 10.0.0.50}

Values in INI are read as Python literals where they are one (`5`, `True`, `[1, 2]`),
else as strings, as Ansible does. `group_vars/` and `host_vars/` beside the file are
read too. See `inventory.ansible_vars` for how `ansible_*` variables become `Host`
fields and `inventory.tree` for precedence.
"""

from __future__ import annotations

import ast
import logging
import re
import shlex
import warnings
from pathlib import Path
from typing import Any

from onion.core.errors import ConfigError
from onion.core.i18n import _
from onion.inventory import ranges
from onion.inventory.ansible_vars import HostRefused, read_vars_dirs, to_host
from onion.inventory.model import Host
from onion.inventory.tree import Tree, flatten
from onion.inventory.yamlfile import where

log = logging.getLogger(__name__)

_SECTION = re.compile(r"^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:[#;].*)?$")
_GROUP_NAME = re.compile(r"^([^:\[\]\s]+)\s*(?:[#;].*)?$")


def parse_ini(text: str, source: str) -> Tree:
    tree = Tree(source)
    group, state = "ungrouped", "hosts"
    pending: dict[str, tuple[int, str, str]] = {}  # group -> (line, parent or "", state)
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        at = f"{source}:{number}"
        m = _SECTION.match(line)
        if m:
            group, state = m.group(1), m.group(2) or "hosts"
            if state not in ("hosts", "children", "vars"):
                raise ConfigError(_("{where}: section [{group}:{state}] has unknown type "
                                    "{kind} (use hosts, children or vars)").format(
                    where=at, group=group, state=state, kind=repr(state)))
            if group not in tree.groups and state == "vars":
                pending.setdefault(group, (number, "", "vars"))
            elif state != "vars":
                pending.pop(group, None)
            tree.group(group)
            continue
        if line.startswith("[") and (line.endswith("]") or "]" not in line):
            raise ConfigError(_("{where}: invalid section {line}: no spaces, and only "
                                "[group], [group:vars] or [group:children]").format(
                where=at, line=repr(line)))
        if state == "hosts":
            _host_line(tree, group, line, at)
        elif state == "vars":
            key, sep, value = line.partition("=")
            if not sep or not key.strip():
                raise ConfigError(_("{where}: expected key=value in [{group}:vars], got "
                                    "{line}").format(where=at, group=group, line=repr(line)))
            tree.group(group).vars[key.strip()] = _value(value.strip())
        else:
            m = _GROUP_NAME.match(line)
            if not m:
                raise ConfigError(_("{where}: expected a group name in [{group}:children], "
                                    "got {line}").format(where=at, group=group,
                                                         line=repr(line)))
            child = m.group(1)
            if pending.get(child, (0, "", ""))[2] == "vars":
                del pending[child]  # declared by being named here
            if child not in tree.groups:
                pending.setdefault(child, (number, group, "children"))
            tree.add_child(group, child)
    for name, (number, parent, kind) in pending.items():
        what = (_("[{group}:vars] is for a group that is never declared").format(group=name)
                if kind == "vars" else
                _("[{parent}:children] names group {group}, which is never declared").format(
                    parent=parent, group=repr(name)))
        raise ConfigError(f"{source}:{number}: {what}")
    return tree


def _host_line(tree: Tree, group: str, line: str, at: str) -> None:
    try:
        tokens = shlex.split(line, comments=True)
    except ValueError as exc:
        raise ConfigError(_("{where}: cannot split host line ({error}): {line}").format(
            where=at, error=exc, line=repr(line))) from None
    if not tokens:
        return
    variables: dict[str, Any] = {}
    for token in tokens[1:]:
        key, sep, value = token.partition("=")
        if not sep or not key:
            raise ConfigError(_("{where}: expected key=value after the host name, got "
                                "{token}").format(where=at, token=repr(token)))
        variables[key] = _value(value)
    for name, port in expand_host(tokens[0], at):
        entry = tree.host(name, group)
        if port is not None:
            entry.vars["ansible_port"] = port
        entry.vars.update(variables)


def expand_host(pattern: str, at: str) -> list[tuple[str, int | None]]:
    try:
        host, port = ranges.split_port(pattern)
        return [(name, port) for name in ranges.expand(host)]
    except ValueError as exc:
        raise ConfigError(_("{where}: bad host pattern {pattern}: {error}").format(
            where=at, pattern=repr(pattern), error=exc)) from None


def _value(text: str) -> Any:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)
            return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


def parse_yaml(data: Any, source: str) -> Tree:
    """An Ansible YAML inventory, already loaded: top-level keys are groups."""
    if not isinstance(data, dict):
        raise ConfigError(_("{where}: an Ansible YAML inventory is a mapping of groups "
                            "(usually just `all:`), got {type}").format(
            where=source, type=type(data).__name__))
    tree = Tree(source)
    for name, body in data.items():
        _yaml_group(tree, str(name), body, where(source, data, name))
    return tree


def _yaml_group(tree: Tree, name: str, body: Any, at: str) -> None:
    group = tree.group(name)
    if body is None:
        return
    if not isinstance(body, dict):
        raise ConfigError(_("{where}: group {group} must be a mapping with hosts, children "
                            "or vars, got {type}").format(where=at, group=repr(name),
                                                          type=type(body).__name__))
    for key, value in body.items():
        key_at = where(tree.source, body, key)
        if key not in ("hosts", "children", "vars"):
            raise ConfigError(_("{where}: group {group} has unknown key {key} "
                                "(expected hosts, children or vars)").format(
                where=key_at, group=repr(name), key=repr(key)))
        if value is None:
            continue
        if key == "hosts" and isinstance(value, str):
            value = {value: None}  # `hosts: web1`: one host, as a scalar (a list is refused)
        if not isinstance(value, dict):
            raise ConfigError(_("{where}: {key} of group {group} must be a mapping, "
                                "got {type}").format(where=key_at, key=key, group=repr(name),
                                                     type=type(value).__name__))
        for item, sub in value.items():
            item_at = where(tree.source, value, item)
            if key == "vars":
                group.vars[str(item)] = sub
            elif key == "children":
                tree.add_child(name, str(item))
                _yaml_group(tree, str(item), sub, item_at)
            else:
                if sub is not None and not isinstance(sub, dict):
                    raise ConfigError(_("{where}: variables of host {host} must be a "
                                        "mapping, got {type}").format(
                        where=item_at, host=repr(item), type=type(sub).__name__))
                for host, port in expand_host(str(item), item_at):
                    entry = tree.host(host, name)
                    if port is not None:
                        entry.vars["ansible_port"] = port
                    entry.vars.update(sub or {})


def hosts_from_tree(tree: Tree, path: Path | None) -> list[Host]:
    if path is not None:
        read_vars_dirs(tree, path)
    hosts = []
    for flat in flatten(tree):
        try:
            hosts.append(to_host(flat, tree.source))
        except HostRefused as exc:  # one host's template: the rest of the file stands
            log.warning("onion: %s", exc)
    return hosts


def load_ini(path: Path, text: str) -> list[Host]:
    return hosts_from_tree(parse_ini(text, str(path)), path)


def load_yaml(path: Path, data: Any) -> list[Host]:
    return hosts_from_tree(parse_yaml(data, str(path)), path)
