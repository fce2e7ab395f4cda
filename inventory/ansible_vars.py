"""From Ansible's connection variables to `Host`, and `group_vars/`/`host_vars/` files.

    ansible_host / ansible_ssh_host                  -> address
    ansible_port / ansible_ssh_port                  -> port
    ansible_user / ansible_ssh_user                  -> user
    ansible_ssh_private_key_file / _private_key_file -> key_files
    ansible_connection=local                         -> local
    -J / -o ProxyJump= / ProxyCommand="ssh -W %h:%p bastion"
      in ansible_ssh_common_args / ansible_ssh_extra_args -> jump

Variables used for a field are taken out of `vars`; every other variable, `ansible_*`
or not, stays there. Onion evaluates no Jinja, except the common
`{{ inventory_hostname }}` and `{{ inventory_hostname_short }}`; any other template in
a connection setting is an error rather than an address like "{{ x }}".
"""

from __future__ import annotations

import difflib
import logging
import re
import shlex
from pathlib import Path
from typing import Any

from onion.core.errors import ConfigError
from onion.core.i18n import _
from onion.inventory import vault
from onion.inventory.model import Host
from onion.inventory.tree import FlatHost, Tree
from onion.inventory.yamlfile import LineDict, Vaulted
from onion.inventory.yamlfile import load as load_yaml

log = logging.getLogger(__name__)

# First name wins, as in Ansible's ssh connection plugin, where the older ansible_ssh_*
# spelling is listed last among each option's variables and so takes precedence.
_ALIASES = {
    "address": ("ansible_ssh_host", "ansible_host"),
    "port": ("ansible_ssh_port", "ansible_port"),
    "user": ("ansible_ssh_user", "ansible_user"),
    "key": ("ansible_ssh_private_key_file", "ansible_private_key_file"),
}
# The connection variables Onion reads; a close misspelling of one is said (Ansible's
# other variables are many and fine: only near misses are suspicious).
_READ = {n for names in _ALIASES.values() for n in names} | {
    "ansible_connection", "ansible_ssh_common_args", "ansible_ssh_extra_args"}
# Host variables Onion itself reads (an `onion_` one it does not know is a mistake).
ONION_VARS = ("watch_files", "watch_files_hash_max_bytes", "probes_disable")
_HOSTNAME_VAR = re.compile(r"\{\{\s*inventory_hostname(_short)?\s*\}\}")
_VARS_SUFFIXES = ("", ".yml", ".yaml", ".json")


_warned: set[tuple[str, str]] = set()   # once per file and name, not once per host


def _check_names(flat: FlatHost, source: str) -> None:
    for name in flat.vars:
        if (source, name) in _warned:
            continue
        if name.startswith(("ansible_", "onion_")):
            _warned.add((source, name))
        if name.startswith("ansible_") and name not in _READ:
            near = difflib.get_close_matches(name, sorted(_READ), n=1, cutoff=0.85)
            if near:
                log.warning("onion: %s: host %r: variable %s is not one Onion reads; "
                            "did you mean %s?", source, flat.name, name, near[0])
        elif name.startswith("onion_"):
            log.warning("onion: %s: host %r: Onion reads no variable %s (its host variables: "
                        "%s)", source, flat.name, name, ", ".join(ONION_VARS))


def to_host(flat: FlatHost, source: str) -> Host:
    _check_names(flat, source)
    vars_ = dict(flat.vars)
    found: dict[str, str | None] = {}
    for field, names in _ALIASES.items():
        found[field] = None
        for name in names:
            if name in vars_:
                value = vars_.pop(name)
                if found[field] is None and value is not None:
                    found[field] = _text(flat, name, value, source)
    port = None
    if found["port"] is not None:
        try:
            port = int(found["port"])
        except ValueError:
            port = 0
        if not 0 < port < 65536:
            raise ConfigError(_("{where}: host {host}: ansible_port must be a port number, "
                                "got {value}").format(where=source, host=repr(flat.name),
                                                      value=repr(found["port"])))
    local = vars_.get("ansible_connection") == "local"
    if local:
        del vars_["ansible_connection"]
    jump = None
    for name in ("ansible_ssh_common_args", "ansible_ssh_extra_args"):
        if isinstance(vars_.get(name), str):
            jump = jump_from_args(vars_[name]) or jump
    return Host(name=flat.name, address=found["address"], port=port, user=found["user"],
                key_files=(found["key"],) if found["key"] else (), jump=jump,
                groups=flat.groups, vars=vars_, local=local)


def _decrypt(text: str, where: str) -> str:
    """A vault-encrypted file or value, decrypted with the configured password. Without
    one it is an error: connection settings in it would otherwise be lost in silence."""
    password = vault.PASSWORD.get()
    if password is None:
        raise ConfigError(_("{where}: vault-encrypted; name the vault password file in the "
                            "config (vault_password_file = \"…\") and Onion decrypts it as "
                            "ansible-vault does, or move it out of the inventory").format(
            where=where))
    try:
        return vault.decrypt(text, password)
    except vault.VaultError as exc:
        raise ConfigError(_("{where}: cannot decrypt the vault: {error}").format(
            where=where, error=exc)) from None


class HostRefused(ConfigError):
    """One host of an inventory that Onion cannot use; the others still are."""


def _text(flat: FlatHost, name: str, value: Any, source: str) -> str:
    host = flat.name
    if isinstance(value, Vaulted):
        value = _decrypt(value.ciphertext, f"{source}: host {host!r}: {name}")
    text = str(value)
    text = _HOSTNAME_VAR.sub(lambda m: host.split(".")[0] if m.group(1) else host, text)
    if "{{" in text or "{%" in text:
        text = _render(flat, name, text, source)
    return text


def _render(flat: FlatHost, name: str, text: str, source: str) -> str:
    """A Jinja template in a connection variable, rendered as Ansible would over the
    host's variables; one that needs what Onion cannot give (a lookup, a filter of
    Ansible's, an undefined variable) costs that host only, with the reason."""
    from jinja2 import StrictUndefined, TemplateError  # only for inventories that template
    from jinja2.sandbox import SandboxedEnvironment

    env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
    context = {**{k: v for k, v in flat.vars.items() if isinstance(k, str)},
               "inventory_hostname": flat.name,
               "inventory_hostname_short": flat.name.split(".")[0],
               "group_names": sorted(g for g in flat.groups if g != "all")}
    try:
        out = text
        for _depth in range(5):  # a variable may itself be a template: as Ansible, a few deep
            out = env.from_string(out).render(context)
            if "{{" not in out and "{%" not in out:
                return out
        raise TemplateError(_("templates nest more than 5 deep"))
    except TemplateError as exc:
        raise HostRefused(_("{where}: host {host}: {name} = {text} needs what Onion cannot "
                            "evaluate ({error}); this host is left out").format(
            where=source, host=repr(flat.name), name=name, text=repr(text),
            error=f"{type(exc).__name__}: {exc}")) from None


def jump_from_args(args: str) -> str | None:
    """The jump host in ssh command-line arguments, or None."""
    try:
        words = shlex.split(args)
    except ValueError:
        return None
    options = []
    for i, word in enumerate(words):
        if word == "-J" and i + 1 < len(words):
            return words[i + 1]
        if word.startswith("-J") and len(word) > 2:
            return word[2:]
        if word == "-o" and i + 1 < len(words):
            options.append(words[i + 1])
        elif word.startswith("-o") and len(word) > 2:
            options.append(word[2:])
    for option in options:
        key, _sep, value = option.replace("=", " ", 1).partition(" ")
        if key.lower() == "proxyjump" and value.strip():
            return value.strip()
        if key.lower() == "proxycommand":
            return _jump_from_proxy_command(value.strip())
    return None


def _jump_from_proxy_command(command: str) -> str | None:
    """`ssh [-p port] [-l user] [-q] -W %h:%p [user@]bastion` -> `user@bastion:port`."""
    words = shlex.split(command)
    if not words or Path(words[0]).name != "ssh" or "-W" not in words:
        return None
    port = user = target = None
    it = iter(words[1:])
    for word in it:
        if word in ("-p", "-l", "-W", "-i", "-o", "-F"):
            value = next(it, None)
            port = value if word == "-p" else port
            user = value if word == "-l" else user
        elif word.startswith("-"):
            continue
        elif target is None:
            target = word
        else:
            return None  # a remote command: not a plain jump
    if target is None:
        return None
    if user and "@" not in target:
        target = f"{user}@{target}"
    return f"{target}:{port}" if port else target


def read_vars_dirs(tree: Tree, inventory: Path) -> None:
    """Fill `file_vars` from `group_vars/` and `host_vars/` beside the inventory file."""
    for folder, entries in (("group_vars", tree.groups), ("host_vars", tree.hosts)):
        base = inventory.parent / folder
        if not base.is_dir():
            continue
        by_stem: dict[str, list[Path]] = {}
        for path in sorted(base.iterdir()):
            plain = path.is_dir() or path.suffix not in _VARS_SUFFIXES
            stem = path.name if plain else path.stem
            by_stem.setdefault(stem, []).append(path)
        for name, entry in entries.items():
            for path in by_stem.get(name, []):
                files = sorted(p for p in path.rglob("*") if p.is_file()) \
                    if path.is_dir() else [path]
                for file in files:
                    if file.suffix in _VARS_SUFFIXES and not file.name.startswith("."):
                        entry.file_vars.update(_read_vars_file(file))


def _read_vars_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(_("{path}: cannot read: {error}").format(path=path, error=exc)) \
            from exc
    if vault.is_vault(text):
        text = _decrypt(text, str(path))
    data = load_yaml(text, str(path))
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(_("{path}: expected a mapping of variables, got {type}").format(
            path=path, type=type(data).__name__))
    return dict(data) if isinstance(data, LineDict) else data
