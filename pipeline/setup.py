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
from onion.core.i18n import _
from onion.core.plugins import PluginKind, Registry
from onion.inventory import limit as limit_mod
from onion.inventory import loader, sshconfig
from onion.inventory import shard as shard_mod
from onion.inventory.model import Host
from onion.poller import redact
from onion.probes import registry as probe_registry
from onion.probes.base import Probe
from onion.storage import sink as sink_mod
from onion.storage.sink import Sink, SinkContext

CHECKS = {PluginKind.PROBE: probe_registry.check, PluginKind.SINK: sink_mod.check,
          PluginKind.NOTIFIER: notifiers.check}
DEFAULT_SINK = "duckdb"


def plugins(cfg: Config | None = None, folders: Iterable[Path] = (),
            configured: bool = False) -> Registry:
    """Every plugin: entry points, then the drop-in folders of ``[plugins] paths``.

    ``configured``: of the installed sinks and notifiers, only the types the config names
    (what a round uses): importing every sink's database driver costs more CPU than
    polling a host. A type is looked up by its entry point's name first, then, if no
    entry point of that name has it, among the others of its kind."""
    reg = Registry(dict(CHECKS))
    paths = [*(Path(p) for p in (cfg.plugins.paths if cfg else ())), *folders]
    if cfg is None or not configured:
        reg.load_entry_points()
        reg.load_folders(paths)
        return reg
    wanted = {PluginKind.SINK: _types(cfg.sinks), PluginKind.NOTIFIER: _types(cfg.notifiers)}
    reg.load_entry_points(pick=lambda kind, name: kind not in wanted or name in wanted[kind])
    reg.load_folders(paths)
    missing = [kind for kind, types in wanted.items() if not types <= set(reg.of(kind))]
    if missing:  # a plugin whose entry point is named otherwise than its type (or a typo)
        reg.load_entry_points(missing, lambda kind, name: name not in wanted[kind])
    return reg


def _types(tables: dict[str, Any]) -> set[str]:
    return {t["type"] for t in tables.values() if isinstance(t, dict)
            and isinstance(t.get("type"), str)}


def load_config(path: str | Path | None = None, db: str | None = None) -> Config:
    """The config file, with every layer's own tables checked: a mistake stops the
    command here instead of failing (or silencing alerts) mid-run."""
    cfg = config.load(path, db)
    redact.compile_patterns(cfg.privacy.redact_patterns)  # a bad regex fails here
    alert_config.check(cfg)
    return cfg


def inventory(cfg: Config, path: str | None = None, limit: str | None = None,
              shard: str | None = None) -> tuple[list[Host], list[str]]:
    """The hosts to poll (``path``, else ``inventory =``, else this machine), resolved
    through ssh_config, only this poller's shard of them (``shard``, else ``[daemon]
    shard``); and what the user should be told about them."""
    where = path or cfg.inventory or None
    password = None
    if cfg.vault_password_file:
        try:
            password = Path(cfg.vault_password_file).expanduser().read_bytes().strip()
        except OSError as exc:
            raise ConfigError(_("vault_password_file {path}: {error}").format(
                path=cfg.vault_password_file, error=exc.strerror)) from exc
    hosts = loader.load(Path(where).expanduser() if where else None, password)
    if limit:
        hosts = limit_mod.select(hosts, limit)
    split = shard or cfg.daemon.shard
    if split:
        part = shard_mod.parse(split, "--shard" if shard else "[daemon] shard")
        hosts = [h for h in hosts if part.owns(h.name)]
        cfg.daemon.shard = str(part)  # what this poller's batches say it polls
    paths = [Path(p).expanduser() for p in cfg.ssh.config]
    remote = any(not h.local for h in hosts)
    warnings = [_("{where} says StrictHostKeyChecking no; not followed: host keys are always "
                  "verified ([ssh] host_key_policy = \"accept-new\" trusts new ones on first "
                  "use)").format(where=loose)
                for loose in (sshconfig.loose_host_key_checking(paths) if remote else ())]
    return [h if h.local else sshconfig.resolve(h, paths) for h in hosts], warnings


def probes(cfg: Config, reg: Registry) -> list[Probe]:
    return probe_registry.select(reg.of(PluginKind.PROBE), cfg.probes.enable or None,
                                 cfg.probes.disable)


def sinks(cfg: Config, reg: Registry, background: bool = False) -> list[Sink]:
    """The DuckDB database first (the query engine of every read path), then each
    ``[sinks.NAME]``. ``background``: a daemon, whose forwarding sinks send from a task of
    their own rather than inside the round."""
    return [duckdb_sink(cfg), *configured_sinks(cfg, reg, background)]


def duckdb_sink(cfg: Config) -> Sink:
    """The DuckDB database as a sink. Imported here, when asked for: DuckDB and numpy are
    the slowest imports of a cron run, which asks once its SSH round is under way."""
    from onion.storage.duckdb_sink import DuckDBSink

    return DuckDBSink.from_settings(cfg, DEFAULT_SINK)


def configured_sinks(cfg: Config, reg: Registry, background: bool = False) -> list[Sink]:
    """Each ``[sinks.NAME]`` (see :func:`sinks`)."""
    types: dict[str, Any] = reg.of(PluginKind.SINK)
    context = SinkContext(db_path=cfg.db_path, data_dir=cfg.db_path.parent, settings=cfg,
                          extra={"background": background})
    out: list[Sink] = []
    for name, table in cfg.sinks.items():
        if name == DEFAULT_SINK:
            raise ConfigError(_("[sinks.{name}]: that name is the DuckDB database's, set in "
                                "[storage]; name this sink otherwise").format(name=DEFAULT_SINK))
        kind = table.get("type")
        if kind not in types:
            raise ConfigError(_("[sinks.{name}] type must be one of {types}, not {kind}")
                              .format(name=name, types=", ".join(sorted(types)),
                                      kind=repr(kind)))
        out.append(types[kind].from_config(name, {k: v for k, v in table.items()
                                                  if k != "type"}, context))
    return out
