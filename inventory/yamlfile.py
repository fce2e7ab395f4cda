"""YAML reading for inventories: safe, with line numbers, and strict about duplicate keys.

PyYAML forgets where a value came from, so mappings are built as `LineDict`, which keeps
the line of each key for error messages. A key written twice in one mapping is an
error (PyYAML would keep the last silently, losing a host's settings without a word).
Ansible's `!vault` values load as `Vaulted` (Onion cannot decrypt them, and only fails
if one is needed for a connection setting); `!unsafe` values load as plain strings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from onion.core.errors import ConfigError
from onion.core.i18n import _

_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class LineDict(dict):
    """A mapping from YAML that remembers its line and the line of each key."""

    line: int = 0

    def __init__(self) -> None:
        super().__init__()
        self.lines: dict[Any, int] = {}

    def line_of(self, key: Any) -> int:
        return self.lines.get(key, self.line)


@dataclass(frozen=True, slots=True)
class Vaulted:
    """An Ansible Vault value, kept opaque."""

    ciphertext: str

    def __repr__(self) -> str:
        return "<vaulted>"


class _Loader(_BaseLoader):  # type: ignore[valid-type,misc]
    source = "<yaml>"


def _construct_map(loader: _Loader, node: yaml.MappingNode):  # type: ignore[no-untyped-def]
    data = LineDict()
    data.line = node.start_mark.line + 1
    yield data
    own = [(k, v) for k, v in node.value if k.tag != "tag:yaml.org,2002:merge"]
    loader.flatten_mapping(node)
    merged = node.value[: len(node.value) - len(own)]
    for key_node, value_node in merged:
        data[loader.construct_object(key_node, deep=True)] = \
            loader.construct_object(value_node, deep=True)
    seen: dict[Any, int] = {}
    for key_node, value_node in own:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        try:
            first = seen.get(key)
        except TypeError:
            raise ConfigError(_("{where}: a mapping key must be a plain value, not {type}")
                              .format(where=f"{loader.source}:{line}",
                                      type=type(key).__name__)) from None
        if first is not None:
            raise ConfigError(_("{where}: duplicate key {key} (first on line {first})").format(
                where=f"{loader.source}:{line}", key=repr(key), first=first))
        seen[key] = line
        data[key] = loader.construct_object(value_node, deep=True)
        data.lines[key] = line


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_map)
_Loader.add_constructor("!vault", lambda loader, node: Vaulted(str(node.value)))
_Loader.add_constructor("!unsafe", lambda loader, node: str(node.value))


def load(text: str, source: str) -> Any:
    """Parse one YAML document; ConfigError with the file and line if it is not YAML."""
    loader = _Loader(text)
    loader.source = source
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}" if mark else source
        raise ConfigError(_("{where}: not valid YAML: {error}").format(
            where=where, error=exc.problem or exc)) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(_("{where}: not valid YAML: {error}").format(
            where=source, error=exc)) from exc
    finally:
        loader.dispose()


def where(source: str, mapping: Any, key: Any = None) -> str:
    """`file:line` for a key of a mapping loaded here, or just the file."""
    if isinstance(mapping, LineDict):
        return f"{source}:{mapping.line_of(key) if key is not None else mapping.line}"
    return source
