"""Loading what a command needs: the config (checked by every layer that owns a part of
it), the plugins (one registry), the probes to run and the sinks to write."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from onion.alerts import config as alert_config
from onion.alerts import notifiers
from onion.core import config
from onion.core.config import Config
from onion.core.errors import ConfigError
from onion.core.plugins import PluginKind, Registry
from onion.poller import redact
from onion.probes import registry as probe_registry
from onion.probes.base import Probe
from onion.storage import sink as sink_mod
from onion.storage.duckdb_sink import DuckDBSink
from onion.storage.sink import Sink, SinkContext

CHECKS = {PluginKind.PROBE: probe_registry.check, PluginKind.SINK: sink_mod.check,
          PluginKind.NOTIFIER: notifiers.check}
DEFAULT_SINK = "duckdb"


def plugins(cfg: Config | None = None, folders: Iterable[Path] = ()) -> Registry:
    """Every plugin: entry points, then the drop-in folders of ``[plugins] paths``."""
    reg = Registry(dict(CHECKS))
    reg.load_entry_points()
    paths = [*(Path(p) for p in (cfg.plugins.paths if cfg else ())), *folders]
    reg.load_folders(paths)
    return reg


def load_config(path: str | Path | None = None, db: str | None = None) -> Config:
    """The config file, with every layer's own tables checked: a mistake stops the
    command here instead of failing (or silencing alerts) mid-run."""
    cfg = config.load(path, db)
    redact.compile_patterns(cfg.privacy.redact_patterns)  # a bad regex fails here
    alert_config.check(cfg)
    return cfg


def probes(cfg: Config, reg: Registry) -> list[Probe]:
    return probe_registry.select(reg.of(PluginKind.PROBE), cfg.probes.enable or None,
                                 cfg.probes.disable)


def sinks(cfg: Config, reg: Registry) -> list[Sink]:
    """The DuckDB database first (the query engine of every read path), then each
    ``[sinks.NAME]``."""
    types: dict[str, Any] = reg.of(PluginKind.SINK)
    context = SinkContext(db_path=cfg.db_path, data_dir=cfg.db_path.parent, settings=cfg)
    out: list[Sink] = [DuckDBSink.from_settings(cfg, DEFAULT_SINK)]
    for name, table in cfg.sinks.items():
        if name == DEFAULT_SINK:
            raise ConfigError(f"[sinks.{DEFAULT_SINK}]: that name is the DuckDB database's, "
                              "set in [storage]; name this sink otherwise")
        kind = table.get("type")
        if kind not in types:
            raise ConfigError(f"[sinks.{name}] type must be one of "
                              f"{', '.join(sorted(types))}, not {kind!r}")
        out.append(types[kind].from_config(name, {k: v for k, v in table.items()
                                                  if k != "type"}, context))
    return out
