"""Load an inventory, whatever its format: `load(path) -> list[Host]`.

How the format is chosen:

    no path                      this machine only (`LOCALHOST`, local transport)
    .yml .yaml .json             YAML: `onion: 1` at the top -> native,
                                 otherwise a mapping of groups (`all:` ...) -> Ansible YAML
    .ini .cfg                    Ansible INI
    anything else                by content: YAML-looking (`---`, `all:` or `onion:`
                                 first) as above; a `[section]` or `key=value` after a
                                 host -> Ansible INI; else a plain list of hosts
    a directory                  every file in it, in name order, as Ansible reads an
                                 inventory folder (group_vars/, host_vars/, hidden and
                                 backup files skipped); a host in several files is merged

Host names are unique in the result, in order of first appearance. A host seen twice
is merged as Ansible does: groups are united, later variables and settings win.
"""

from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path

from onion.core.errors import ConfigError
from onion.core.i18n import _
from onion.inventory import plain, ranges, vault
from onion.inventory.model import LOCALHOST, Host

_YAML_SUFFIXES = {".yml", ".yaml", ".json"}
_INI_SUFFIXES = {".ini", ".cfg"}
_SKIP_SUFFIXES = {".orig", ".bak", ".retry", ".pyc", ".swp", ".md", ".rst"}
_YAML_START = re.compile(r"^(---|(all|onion)\s*:)")
_INI_LINE = re.compile(r"^\[[^:\]\s]+(:\w+)?\]\s*([#;].*)?$|^\S+\s+[^#\s=]+=")


# Cap on the hosts one inventory may hold: node[0:99999][0:99999] must be an error, not
# ten billion names in memory.
MAX_HOSTS = ranges.MAX_EXPANSION


def load(path: str | os.PathLike[str] | None, vault_password: bytes | None = None
         ) -> list[Host]:
    """The inventory's hosts; ``vault_password`` decrypts Ansible Vault files and values."""
    token = vault.PASSWORD.set(vault_password)
    try:
        return _load(path)
    finally:
        vault.PASSWORD.reset(token)


def _load(path: str | os.PathLike[str] | None) -> list[Host]:
    if path is None:
        return [LOCALHOST]
    path = Path(path)
    if path.is_dir():
        files = [p for p in sorted(path.iterdir()) if p.is_file() and not _skipped(p)]
        hosts = merge([host for file in files for host in _load_file(file)])
    else:
        hosts = merge(_load_file(path))
    if len(hosts) > MAX_HOSTS:
        raise ConfigError(_("{path}: {n} hosts, more than one inventory may hold ({max}); "
                            "split it across pollers").format(path=path, n=len(hosts),
                                                              max=MAX_HOSTS))
    for host in hosts:
        check_name(host.name, str(path))
    return hosts


def check_name(name: str, where: str) -> None:
    """A host name is printed on terminals, in logs and pages: no control characters (a
    newline would forge lines of `onion poll -v`, a NUL reach the HTML)."""
    bad = next((c for c in name if unicodedata.category(c) == "Cc"), None)
    if bad is not None:
        raise ConfigError(_("{where}: host name {name} holds the control character "
                            "{char}; rename it").format(where=where, name=repr(name),
                                                         char=f"U+{ord(bad):04X}"))


def _skipped(path: Path) -> bool:
    return (path.name.startswith(".") or path.name.endswith("~")
            or path.suffix in _SKIP_SUFFIXES)


def _load_file(path: Path) -> list[Host]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(_("{path}: inventory file not found").format(path=path)) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(_("{path}: not a UTF-8 text file ({error} at byte {byte})").format(
            path=path, error=exc.reason, byte=exc.start)) from None
    except OSError as exc:
        raise ConfigError(_("{path}: cannot read the inventory: {error}").format(
            path=path, error=exc.strerror)) from None
    kind = detect(path, text)
    if kind == "plain":
        return plain.load(path, text)
    # Imported here: a plain host list, read on every cron run, needs no YAML parser.
    from onion.inventory import ansible, native
    from onion.inventory.yamlfile import load as load_yaml

    if kind == "ini":
        return ansible.load_ini(path, text)
    data = load_yaml(text, str(path))
    if native.is_native(data):
        return native.load(path, data)
    if isinstance(data, dict) and data:
        return ansible.load_yaml(path, data)
    raise ConfigError(_("{path}: not an inventory: expected `{marker}` (Onion) or `all:` "
                        "(Ansible) at the top level").format(
        path=path, marker=f"{native.MARKER}: {native.VERSION}"))


def detect(path: Path, text: str) -> str:
    """"yaml", "ini" or "plain"."""
    suffix = path.suffix.lower()
    if suffix in _YAML_SUFFIXES:
        return "yaml"
    if suffix in _INI_SUFFIXES:
        return "ini"
    lines = [line.strip() for line in text.splitlines()]
    lines = [line for line in lines if line and line[0] not in "#;"]
    if lines and (_YAML_START.match(lines[0]) or lines[0].startswith("{")):
        return "yaml"
    if any(_INI_LINE.match(line) for line in lines):
        return "ini"
    return "plain"


def merge(hosts: list[Host]) -> list[Host]:
    """One `Host` per name; a later entry's settings and vars win, groups are united."""
    out: dict[str, Host] = {}
    for host in hosts:
        old = out.get(host.name)
        if old is not None:
            host = _merge_two(old, host)
        out[host.name] = host
    return list(out.values())


def _merge_two(old: Host, new: Host) -> Host:
    groups = tuple(dict.fromkeys(g for g in (*old.groups, *new.groups)))
    if len(groups) > 1:
        groups = tuple(g for g in groups if g != "ungrouped")
    return Host(name=new.name, address=new.address or old.address,
                port=new.port or old.port, user=new.user or old.user,
                key_files=new.key_files or old.key_files, jump=new.jump or old.jump,
                groups=groups, vars={**old.vars, **new.vars}, local=new.local or old.local)
