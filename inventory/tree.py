"""Groups, children and variable precedence, shared by every structured format.

A format fills a `Tree`; `flatten` turns it into one entry per host with its groups
and merged variables, by Ansible's rules:

- `all` holds every host; a group with no parent is a child of `all`; a host in no
  group but `all` is in `ungrouped`.
- Group variables merge from the shallowest group to the deepest (a child group
  overrides its parents), ties broken by `ansible_group_priority` then by name; host
  variables override all group variables. Merging replaces whole values (Ansible's
  default `hash_behaviour=replace`): a dict in a child group replaces its parent's.
- Variables read from `group_vars/`/`host_vars/` files form a second layer above the
  inventory file's own group variables, as in Ansible's precedence list.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from onion.core.errors import ConfigError
from onion.core.i18n import _


@dataclass(slots=True)
class Group:
    name: str
    vars: dict[str, Any] = field(default_factory=dict)
    file_vars: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    children: list[str] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)


@dataclass(slots=True)
class HostEntry:
    name: str
    vars: dict[str, Any] = field(default_factory=dict)
    file_vars: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FlatHost:
    name: str
    groups: tuple[str, ...]          # precedence order, `all` left out
    vars: dict[str, Any]
    settings: dict[str, Any]


class Tree:
    def __init__(self, source: str) -> None:
        self.source = source
        self.groups: dict[str, Group] = {"all": Group("all"), "ungrouped": Group("ungrouped")}
        self.hosts: dict[str, HostEntry] = {}

    def group(self, name: str) -> Group:
        if name not in self.groups:
            self.groups[name] = Group(name)
        return self.groups[name]

    def host(self, name: str, group: str | None = None) -> HostEntry:
        """The host's entry, created on first sight; also puts it in `group`."""
        entry = self.hosts.get(name)
        if entry is None:
            entry = self.hosts[name] = HostEntry(name)
        if group is not None:
            members = self.group(group).hosts
            if name not in members:
                members.append(name)
        return entry

    def add_child(self, parent: str, child: str) -> None:
        if child == "all":
            raise ConfigError(_("{where}: 'all' cannot be a child of {parent}").format(
                where=self.source, parent=repr(parent)))
        self.group(child)
        children = self.group(parent).children
        if child not in children:
            children.append(child)


def flatten(tree: Tree) -> list[FlatHost]:
    groups = tree.groups
    parents: dict[str, list[str]] = {name: [] for name in groups}
    for group in groups.values():
        for child in group.children:
            parents[child].append(group.name)
    for name, ups in parents.items():
        if name != "all" and not ups:
            groups["all"].children.append(name)
            ups.append("all")
    depth = _depths(tree, groups)
    order = {name: i for i, name in enumerate(
        sorted(groups, key=lambda n: (depth[n], _priority(tree, groups[n]), n)))}

    direct: dict[str, set[str]] = {name: set() for name in tree.hosts}
    for group in groups.values():
        for host in group.hosts:
            direct[host].add(group.name)
    flat = []
    for name, entry in tree.hosts.items():
        mine = _ancestors(direct[name], parents)
        mine.discard("all")
        if mine - {"ungrouped"}:
            mine.discard("ungrouped")
        else:
            mine.add("ungrouped")
        chain = [groups["all"], *sorted((groups[g] for g in mine), key=lambda g: order[g.name])]
        merged: dict[str, Any] = {}
        settings: dict[str, Any] = {}
        for layer in ([g.vars for g in chain] + [g.file_vars for g in chain]
                      + [entry.vars, entry.file_vars]):
            merged.update(layer)
        for layer in [g.settings for g in chain] + [entry.settings]:
            settings.update(layer)
        flat.append(FlatHost(name, tuple(g.name for g in chain[1:]), merged, settings))
    return flat


def _ancestors(start: set[str], parents: dict[str, list[str]]) -> set[str]:
    seen = set(start)
    todo = list(start)
    while todo:
        for up in parents[todo.pop()]:
            if up not in seen:
                seen.add(up)
                todo.append(up)
    return seen


def _depths(tree: Tree, groups: dict[str, Group]) -> dict[str, int]:
    """Longest path from `all`; a loop of children is an error, as in Ansible."""
    depth = {name: 0 for name in groups}
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(name: str, level: int, path: list[str]) -> None:
        if state.get(name) == 1:
            loop = " -> ".join([*path[path.index(name):], name])
            raise ConfigError(_("{where}: groups are children of each other: {loop}").format(
                where=tree.source, loop=loop))
        if state.get(name) == 2 and depth[name] >= level:
            return
        depth[name] = max(depth[name], level)
        state[name] = 1
        for child in groups[name].children:
            visit(child, level + 1, [*path, name])
        state[name] = 2

    visit("all", 0, [])
    for name in groups:  # only groups in a loop with no way up to `all` are left
        if name not in state:
            visit(name, 1, [])
    return depth


def _priority(tree: Tree, group: Group) -> int:
    # Only the inventory's own group vars set it: Ansible reads group_vars/ files after
    # the priorities are settled, so ansible_group_priority there changes nothing.
    value = group.vars.get("ansible_group_priority", 1)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise _not_whole(tree, group, value)
    try:
        return int(value)
    except ValueError:
        raise _not_whole(tree, group, value) from None


def _not_whole(tree: Tree, group: Group, value: object) -> ConfigError:
    return ConfigError(_("{where}: group {group}: ansible_group_priority must be a whole "
                         "number, got {value}").format(where=tree.source, group=repr(group.name),
                                                       value=repr(value)))
