"""Choose hosts with Ansible-style patterns: `select(hosts, "compute:&gpu:!node07")`.

Terms are separated by `,` (or by `:` when there is no comma; a bare IPv6 address
stays whole). Each term names groups or hosts:

    all, *            every host
    web               the group `web`, or the host `web`
    node*, db?.lan    shell globs, on group names and host names
    ~node0[1-4]\\.    a regular expression (after `~`), on group and host names
    web[0], web[-1]   by position within what `web` matches, in inventory order, as
    web[0:2], web[1:] Ansible reads them (the end is included: web[0:2] is three hosts)
    !term             leave these out
    &term             keep only hosts also in these

As in Ansible, plain terms are added first, then `&` terms intersect, then `!` terms
are taken away, whatever their order; a pattern of only `!`/`&` terms starts from
all hosts. Matching is case-sensitive. A term that matches no host and no group in the
inventory is an error (usually a typo), even when other terms match.
The result keeps inventory order.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence

from onion.core.errors import ConfigError
from onion.core.i18n import _
from onion.inventory import ranges
from onion.inventory.model import Host


def select(hosts: Sequence[Host], pattern: str) -> list[Host]:
    terms = split(pattern)
    if not terms:
        raise ConfigError(_("limit {pattern}: empty pattern (use 'all' for every host)")
                          .format(pattern=repr(pattern)))
    plain = [t for t in terms if t[0] not in "!&"]
    chosen: set[str] = set() if plain else {h.name for h in hosts}
    for term in plain:
        chosen |= _matches(hosts, term, pattern)
    for term in (t for t in terms if t[0] == "&"):
        chosen &= _matches(hosts, term[1:], pattern)
    for term in (t for t in terms if t[0] == "!"):
        chosen -= _matches(hosts, term[1:], pattern)
    return [h for h in hosts if h.name in chosen]


def split(pattern: str) -> list[str]:
    pattern = pattern.strip()
    if "," in pattern:
        parts = pattern.split(",")
    elif ranges.is_ipv6(pattern.lstrip("!&")):
        parts = [pattern]
    else:
        parts, depth, start = [], 0, 0
        for i, ch in enumerate(pattern):
            depth += (ch == "[") - (ch == "]")
            if ch == ":" and depth == 0:
                parts.append(pattern[start:i])
                start = i + 1
        parts.append(pattern[start:])
    return [p.strip() for p in parts if p.strip()]


# Ansible's pattern with a subscript: NAME[N], NAME[-N], NAME[N:M], NAME[N:], NAME[N-M].
_SUBSCRIPT = re.compile(r"^(.+)\[(?:(-?[0-9]+)|([0-9]+)([:-])([0-9]+)?)\]$")


def _matches(hosts: Sequence[Host], term: str, pattern: str) -> set[str]:
    if not term:
        raise ConfigError(_("limit {pattern}: '!' or '&' with nothing after it").format(
            pattern=repr(pattern)))
    if term in ("all", "*"):
        return {h.name for h in hosts}
    sub = None if term.startswith("~") else _SUBSCRIPT.match(term)
    if sub:
        return _subscript(hosts, sub, term, pattern)
    test = _matcher(term, pattern)
    found = {h.name for h in hosts if test(h.name) or any(test(g) for g in h.groups)}
    if not found:
        groups = sorted({g for h in hosts for g in h.groups})
        names = [h.name for h in hosts]
        raise ConfigError(_(
            "limit {pattern}: {term} matches no host and no group (groups: {groups}; "
            "hosts: {hosts})").format(pattern=repr(pattern), term=repr(term),
                                      groups=_some(groups), hosts=_some(names)))
    return found


def _subscript(hosts: Sequence[Host], m: re.Match[str], term: str, pattern: str) -> set[str]:
    """Hosts by position, as Ansible applies a subscript: ``[N]`` one host (negative from
    the end), ``[N:M]`` from N to M included, ``[N:]`` from N to the last."""
    base, one, start, _colon, end = m.groups()
    test = _matcher(base, pattern)
    members = [h.name for h in hosts if test(h.name) or any(test(g) for g in h.groups)]
    if not members:
        hint = ""
        try:
            ranged = set(ranges.expand(term)) if ranges.has_range(term) else set()
        except ValueError:
            ranged = set()
        if ranged & {h.name for h in hosts}:
            hint = "; " + _("Ansible reads [...] after a name as positions, not as a range: "
                            "for the hosts {first}… name them, or use a regular expression "
                            "(~...)").format(first=ranges.expand(term)[0])
        raise ConfigError(_("limit {pattern}: {base} matches no host and no group, so {term} "
                            "has no positions to take").format(
            pattern=repr(pattern), base=repr(base), term=repr(term)) + hint)
    if one is not None:
        i = int(one)
        if not -len(members) <= i < len(members):
            raise ConfigError(_("limit {pattern}: {term}: {base} has {n} host(s), no "
                                "position {i}").format(pattern=repr(pattern), term=repr(term),
                                                       base=repr(base), n=len(members), i=i))
        return {members[i]}
    first = int(start)
    last = len(members) - 1 if end is None else int(end)
    return set(members[first:last + 1])


def _matcher(term: str, pattern: str):  # type: ignore[no-untyped-def]
    if term.startswith("~"):
        try:
            regex = re.compile(term[1:])
        except re.error as exc:
            raise ConfigError(_("limit {pattern}: bad regular expression {term}: {error}")
                              .format(pattern=repr(pattern), term=repr(term), error=exc)) \
                from None
        return lambda name: regex.match(name) is not None
    if ranges.has_range(term):
        try:
            names = set(ranges.expand(term))
        except ValueError as exc:
            raise ConfigError(_("limit {pattern}: {error}").format(
                pattern=repr(pattern), error=exc)) from None
        return names.__contains__
    if any(ch in term for ch in "*?["):
        return lambda name: fnmatch.fnmatchcase(name, term)
    return lambda name: name == term


def _some(names: list[str], count: int = 8) -> str:
    if not names:
        return "none"
    more = f", … {len(names) - count} more" if len(names) > count else ""
    return ", ".join(names[:count]) + more
