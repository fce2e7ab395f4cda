"""The configuration file (TOML). Every setting and its default is written out by
``onion init`` (see :data:`EXAMPLE`); a test checks the two never drift apart.

Where the files are: ``--config`` / ``ONION_CONFIG``, else ``~/.config/onion/onion.toml``
if it exists, else defaults. The database: ``--db`` / ``ONION_DB`` / ``[storage] db``.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from onion.core import duration
from onion.core.errors import ConfigError
from onion.core.i18n import _
from onion.core.units import parse_budget

DEFAULT_CONFIG = Path("~/.config/onion/onion.toml")
DATA_HOME = Path(os.environ.get("XDG_DATA_HOME") or "~/.local/share") / "onion"


@dataclass(slots=True)
class PollerSettings:
    concurrency: int = 100
    connect_timeout: float = 10.0
    command_timeout: float = 60.0
    section_timeout: int = 20
    run_timeout: float = 300.0
    max_output_bytes: int = 64 << 20
    max_section_bytes: int = 16 << 20
    keepalive_interval: float = 15.0
    lock_wait: float = 0.0


@dataclass(slots=True)
class SSHSettings:
    known_hosts: list[str] = field(default_factory=lambda: ["~/.ssh/known_hosts"])
    host_key_policy: str = "strict"
    accept_new_file: str = str(DATA_HOME / "known_hosts")
    config: list[str] = field(default_factory=lambda: ["~/.ssh/config", "/etc/ssh/ssh_config"])
    user: str = ""
    identity_files: list[str] = field(default_factory=list)
    agent: bool = True


@dataclass(slots=True)
class ProbeSettings:
    enable: list[str] = field(default_factory=list)
    disable: list[str] = field(default_factory=list)
    # [probes.NAME] tables: each probe plugin's own settings, handed to it as they are.
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(slots=True)
class PluginSettings:
    paths: list[str] = field(default_factory=list)


@dataclass(slots=True)
class FilesSettings:
    watch: list[str] = field(default_factory=lambda: [
        "/etc/passwd", "/etc/group", "/etc/hosts", "/etc/fstab", "/etc/ssh/sshd_config"])


@dataclass(slots=True)
class StorageSettings:
    db: str = str(DATA_HOME / "onion.duckdb")
    spool: str = ""
    archive: str = ""
    max_size: str = "10GB"
    max_spool: str = "2GB"
    hot_days: int = 1
    raw_days: int = 14
    rollup_5m_days: int = 30
    rollup_1h_days: int = 365
    rollup_1d_days: int = 0


@dataclass(slots=True)
class PrivacySettings:
    redact_args: bool = True
    redact_patterns: list[str] = field(default_factory=list)


@dataclass(slots=True)
class ReportSettings:
    out: str = str(DATA_HOME / "report")
    always_show: list[str] = field(default_factory=list)


@dataclass(slots=True)
class AlertSettings:
    enabled: bool = True
    notifiers: list[str] = field(default_factory=list)
    disable: list[str] = field(default_factory=list)
    templates: str = ""
    flap_window: str = "1h"
    flap_changes: int = 6
    retry_for: str = "2d"
    send_timeout: float = 10.0
    history_days: int = 400
    # [[alerts.rules]] tables, checked and typed by poller.alerts.rules.
    rules: list[dict[str, Any]] = field(default_factory=list)


@dataclass(slots=True)
class DaemonSettings:
    interval: str = "60s"
    jitter: str = "2s"
    socket: str = ""
    listen: str = ""
    token_file: str = str(DEFAULT_CONFIG.parent / "token")
    tls_cert: str = ""
    tls_key: str = ""
    url: str = ""
    tls_ca: str = ""
    max_connection_age: str = "1h"
    reconnect_min: str = "5s"
    reconnect_max: str = "5m"
    stop_timeout: float = 5.0
    query_timeout: float = 10.0
    query_max_rows: int = 10_000
    max_request_bytes: int = 65_536
    role: str = "poller"
    shard: str = ""


@dataclass(slots=True)
class CentralSettings:
    """``[central]``: a daemon with ``role = "central"`` takes batches from pollers."""
    stale_after: str = "5m"
    max_batch_bytes: int = 64 << 20
    # [central.pollers.<name>] tables: token_file, host_prefix (checked by onion.daemon)
    pollers: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(slots=True)
class Config:
    inventory: str = ""
    vault_password_file: str = ""
    poller: PollerSettings = field(default_factory=PollerSettings)
    ssh: SSHSettings = field(default_factory=SSHSettings)
    probes: ProbeSettings = field(default_factory=ProbeSettings)
    plugins: PluginSettings = field(default_factory=PluginSettings)
    files: FilesSettings = field(default_factory=FilesSettings)
    storage: StorageSettings = field(default_factory=StorageSettings)
    report: ReportSettings = field(default_factory=ReportSettings)
    privacy: PrivacySettings = field(default_factory=PrivacySettings)
    alerts: AlertSettings = field(default_factory=AlertSettings)
    daemon: DaemonSettings = field(default_factory=DaemonSettings)
    central: CentralSettings = field(default_factory=CentralSettings)
    # [notifiers.<name>] tables, checked and typed by onion.alerts.notifiers.
    notifiers: dict[str, dict[str, Any]] = field(default_factory=dict)
    # [sinks.<name>] tables: where batches go besides the DuckDB database (onion.storage).
    sinks: dict[str, dict[str, Any]] = field(default_factory=dict)
    source: Path | None = None

    @property
    def db_path(self) -> Path:
        return Path(self.storage.db).expanduser()

    @property
    def archive_path(self) -> Path:
        return Path(self.storage.archive).expanduser() if self.storage.archive else \
            self.db_path.with_name(self.db_path.name + ".archive")

    @property
    def socket_path(self) -> Path:
        """The daemon's Unix socket: beside the database unless ``[daemon] socket``."""
        return Path(self.daemon.socket).expanduser() if self.daemon.socket else \
            self.db_path.with_name(self.db_path.name + ".sock")

    @property
    def spool_path(self) -> Path:
        return Path(self.storage.spool).expanduser() if self.storage.spool else \
            self.db_path.with_name(self.db_path.name + ".spool")


def _fill(obj: Any, data: dict[str, Any], where: str) -> None:
    known = {f.name: f for f in fields(obj)}
    for key, value in data.items():
        if isinstance(obj, ProbeSettings) and isinstance(value, dict) and key not in known:
            obj.settings[key] = value  # [probes.NAME]: that plugin's own table
            continue
        if key not in known or key == "source":
            raise ConfigError(_("{where}: unknown setting {key} (known: {known})").format(
                where=where, key=repr(key),
                known=", ".join(sorted(k for k in known if k != "source"))))
        current = getattr(obj, key)
        if hasattr(current, "__dataclass_fields__"):
            if not isinstance(value, dict):
                raise ConfigError(_("{where}: [{key}] must be a table").format(
                    where=where, key=key))
            _fill(current, value, f"{where} [{key}]")
            continue
        expected = type(current)
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise ConfigError(_("{where}: {key} must be {type}, not {got} ({value})").format(
                where=where, key=key, type=expected.__name__, got=type(value).__name__,
                value=repr(value)))
        setattr(obj, key, value)


def load(path: str | Path | None = None, db: str | None = None) -> Config:
    explicit = path or os.environ.get("ONION_CONFIG")
    cfg = Config()
    candidate = Path(explicit).expanduser() if explicit else DEFAULT_CONFIG.expanduser()
    if candidate.is_file():
        try:
            data = tomllib.loads(candidate.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(_("{path}: not valid TOML: {error}").format(
                path=candidate, error=exc)) from exc
        _fill(cfg, data, str(candidate))
        cfg.source = candidate
    elif explicit:
        raise ConfigError(_("config file {path} does not exist (run `onion init {path}`)")
                          .format(path=candidate))
    _check(cfg)
    db = db or os.environ.get("ONION_DB")
    if db:
        cfg.storage.db = db
    return cfg


# Settings that must be above zero: a zero timeout or cap would fail every host.
_POSITIVE = ("concurrency", "connect_timeout", "command_timeout", "section_timeout",
             "run_timeout", "max_output_bytes", "max_section_bytes", "keepalive_interval")


def _check(cfg: Config) -> None:
    """What this file alone can tell is wrong. Each layer checks its own tables (rules,
    notifiers, sinks, patterns) when the application loads the config
    (:func:`onion.pipeline.setup.load_config`)."""
    if cfg.ssh.host_key_policy not in ("strict", "accept-new"):
        raise ConfigError(_("[ssh] host_key_policy must be \"strict\" or \"accept-new\", "
                            "not {value}").format(value=repr(cfg.ssh.host_key_policy)))
    for name in _POSITIVE:
        if getattr(cfg.poller, name) <= 0:
            raise ConfigError(_("[{table}] {name} must be above 0, not {value}").format(
                table="poller", name=name, value=getattr(cfg.poller, name)))
    if cfg.poller.lock_wait < 0:
        raise ConfigError(_("[{table}] {name} must be 0 or more, not {value}").format(
            table="poller", name="lock_wait", value=cfg.poller.lock_wait))
    parse_budget(cfg.storage.max_size, "[storage] max_size")
    parse_budget(cfg.storage.max_spool, "[storage] max_spool")
    s = cfg.storage
    for name in ("hot_days", "raw_days", "rollup_5m_days", "rollup_1h_days", "rollup_1d_days"):
        if getattr(s, name) < 0:
            raise ConfigError(_("[{table}] {name} must be 0 or more, not {value}").format(
                table="storage", name=name, value=getattr(s, name)))
    if s.hot_days < 1:
        raise ConfigError(_("[storage] hot_days must be at least 1 (today's rows stay hot)"))
    _check_daemon(cfg.daemon)
    _check_central(cfg.central)
    for item in cfg.report.always_show:
        if not isinstance(item, str) or not item.strip():
            raise ConfigError(_("[report] always_show lists names or globs (strings), "
                                "not {item}").format(item=repr(item)))
    for name, table in cfg.sinks.items():
        if not isinstance(table, dict) or not isinstance(table.get("type"), str):
            raise ConfigError(_("[sinks.{name}] needs a type (\"jsonl\", or a sink plugin's)")
                              .format(name=name))


def _check_daemon(d: DaemonSettings) -> None:
    interval = duration.parse(d.interval, "[daemon] interval").total_seconds()
    if interval <= 0:
        raise ConfigError(_("{setting} must be above 0").format(setting="[daemon] interval"))
    if duration.parse(d.jitter, "[daemon] jitter").total_seconds() >= interval:
        raise ConfigError(_("[daemon] jitter ({jitter}) must be shorter than the interval "
                            "({interval})").format(jitter=d.jitter, interval=d.interval))
    for name in ("max_connection_age", "reconnect_min", "reconnect_max"):
        if duration.parse(getattr(d, name), f"[daemon] {name}").total_seconds() <= 0:
            raise ConfigError(_("{setting} must be above 0").format(
                setting=f"[daemon] {name}"))
    for name in ("stop_timeout", "query_timeout", "query_max_rows", "max_request_bytes"):
        if getattr(d, name) <= 0:
            raise ConfigError(_("[{table}] {name} must be above 0, not {value}").format(
                table="daemon", name=name, value=getattr(d, name)))
    if d.listen:
        host, _sep, port = d.listen.rpartition(":")
        if not host or not port.isdecimal() or not 0 < int(port) < 65536:
            raise ConfigError(_("[daemon] listen must be HOST:PORT, not {value}").format(
                value=repr(d.listen)))
        if not (d.tls_cert and d.tls_key and d.token_file):
            raise ConfigError(_("[daemon] listen (TCP) needs tls_cert, tls_key and "
                                "token_file: the API is never served over TCP without TLS "
                                "and a token"))
    if d.role not in ("poller", "central"):
        raise ConfigError(_("[daemon] role must be \"poller\" or \"central\", not {value}")
                          .format(value=repr(d.role)))
    if d.url and not d.url.startswith("https://"):
        raise ConfigError(_("[daemon] url must start with https:// (TCP is TLS only), "
                            "not {value}").format(value=repr(d.url)))


def _check_central(c: CentralSettings) -> None:
    if duration.parse(c.stale_after, "[central] stale_after").total_seconds() <= 0:
        raise ConfigError(_("{setting} must be above 0").format(
            setting="[central] stale_after"))
    if c.max_batch_bytes < 1024:
        raise ConfigError(_("[central] max_batch_bytes must be 1024 or more, not {value}")
                          .format(value=c.max_batch_bytes))
    for name, table in c.pollers.items():
        if not isinstance(table, dict):
            raise ConfigError(_("[central.pollers.{name}] must be a table").format(name=name))


EXAMPLE = '''\
# Onion configuration. Every setting is shown with its default value.

# Inventory file: Ansible INI/YAML, Onion's YAML, or a plain list of hosts.
# Empty: this machine only, polled without SSH. `-i FILE` on the command line wins.
inventory = ""
# A file holding the Ansible Vault password: vault-encrypted group_vars/host_vars files and
# !vault values of the inventory are decrypted with it (without it they are an error).
vault_password_file = ""

[poller]
concurrency = 100            # hosts polled at once
connect_timeout = 10.0       # seconds to TCP connect, handshake and authenticate
command_timeout = 60.0       # seconds for a host's whole script once connected
section_timeout = 20         # seconds one guarded section (df, nvidia-smi…) may take on the host
run_timeout = 300.0          # seconds for the whole round; hosts still running are cut
max_output_bytes = 67108864  # output one host may send (64 MiB)
max_section_bytes = 16777216 # output one section may send (16 MiB)
keepalive_interval = 15.0    # SSH keepalive, seconds
lock_wait = 0.0              # seconds a poll waits for another one to finish

[ssh]
known_hosts = ["~/.ssh/known_hosts"]   # files host keys are checked against
host_key_policy = "strict"             # or "accept-new": trust and record unknown keys
accept_new_file = "~/.local/share/onion/known_hosts"  # where accept-new records keys
config = ["~/.ssh/config", "/etc/ssh/ssh_config"]  # OpenSSH client configs, as ssh reads them
user = ""                              # default login; empty: ssh_config, then your user
identity_files = []                    # default keys; empty: ssh_config and the agent
agent = true                           # use ssh-agent if SSH_AUTH_SOCK is set

[probes]
enable = []     # probes to run; empty: every probe that is on by default
disable = []    # probes to leave out
# Each probe's own settings are a [probes.NAME] table, handed to that probe, e.g.:
# [probes.files]
# watch = ["/etc/passwd", "/etc/sudoers"]   # replaces [files] watch below

[plugins]
paths = []      # folders of drop-in plugin files (*.py defining PROBE, SINK or NOTIFIER);
                # a folder named here must exist. `onion plugins` lists what was found.

[files]
# Watched on every host ([probes.files] watch wins where both are set); an inventory
# host/group var `watch_files` adds more.
watch = ["/etc/passwd", "/etc/group", "/etc/hosts", "/etc/fstab", "/etc/ssh/sshd_config"]

[storage]
db = "~/.local/share/onion/onion.duckdb"   # also --db and ONION_DB
spool = ""      # where batches wait for a sink that cannot take them now; empty: <db>.spool
max_spool = "2GB"  # the most the queue may hold: past it the oldest batches are dropped,
                   # each drop recorded in storage_events and said on stderr
archive = ""    # where closed days go as sorted Parquet files; empty: <db>.archive
max_size = "10GB"  # budget for everything above; oldest raw days are rolled up and dropped
                   # first, then the finer tiers ("" or "0": no budget)
hot_days = 1       # days kept in the database itself (today) before they are archived
raw_days = 14      # every sample is kept this long (0: forever)
rollup_5m_days = 30    # then 5-minute min/avg/max/count rollups this long
rollup_1h_days = 365   # hourly rollups (and processes_top: the top consumers per hour)
                       # this long
rollup_1d_days = 0     # daily rollups (0: forever)

# Sinks: where each round's rows go besides the DuckDB database above (which every query,
# alert and report reads). Each has its own queue: one that is down delays only itself
# and catches up later. `type` picks the plugin (entry point group onion.sinks).
#
# [sinks.text]
# type = "jsonl"        # JSON lines: DIR/<table>/<day>.jsonl, one object per row
# path = ""             # required; a relative path is below the database's folder
# rotate = "64MiB"      # a day's file past this size continues in <day>.1.jsonl
# fsync = true          # flush every file to disk before a batch counts as written

[daemon]
# `onion daemon`: the same round as `onion poll`, on a schedule, over SSH connections kept
# open between rounds; the only writer of the database while it runs.
interval = "60s"          # rounds start at multiples of this on the clock; one still
                          # running then makes the next one skipped (recorded), never doubled
jitter = "2s"             # each host starts up to this long into its round (fixed per host)
socket = ""               # the API's Unix socket (0600); empty: <db>.sock
listen = ""               # also serve on TCP, "HOST:PORT": needs tls_cert, tls_key, token_file
token_file = "~/.config/onion/token"  # bearer token for TCP clients (`onion init` writes it)
tls_cert = ""             # PEM certificate (chain) and key for TCP
tls_key = ""
url = ""                  # for `onion ctl` on another machine: "https://HOST:PORT"
tls_ca = ""               # … and the CA file (or the self-signed cert) it trusts
max_connection_age = "1h" # a kept connection older than this is replaced
reconnect_min = "5s"      # after a failed connect, wait this long before the next try,
reconnect_max = "5m"      # doubling each time up to this
stop_timeout = 5.0        # seconds SIGTERM lets hosts mid-round finish before cutting them
query_timeout = 10.0      # seconds one API query may run
query_max_rows = 10000    # rows one API query returns at most
max_request_bytes = 65536 # largest request body the API reads
role = "poller"           # "central": also take batches from other pollers ([central])
shard = ""                # "K/N": poll only this poller's share of the inventory, split
                          # among N pollers by host name (rendezvous hashing); --shard wins

[central]
# With [daemon] role = "central": pollers send their batches here (a [sinks.NAME] of
# type "onion" on each), over TCP with TLS ([daemon] listen), each with its own token.
stale_after = "5m"        # a poller silent this long fires the built-in poller_stale alert
max_batch_bytes = 67108864  # largest batch (compressed) a poller may send
# [central.pollers.hpc1]
# token_file = "~/.config/onion/pollers/hpc1.token"   # `onion central token hpc1` writes it
# host_prefix = ""        # "hpc1:" when two clusters name their nodes alike

[report]
out = "~/.local/share/onion/report"   # folder `onion report` writes (not relative to the
                                      # working directory: cron and you write the same one)
always_show = []    # interfaces, disks and mount points charted on host pages even when
                    # idle or a kernel/memory file system (those get one line otherwise);
                    # names or globs, e.g. ["eth0", "ib*", "/dev/shm"]

[privacy]
# Process command lines are stored with values that look like secrets masked as ***:
# --password=…, --password …, --api-key …, PGPASSWORD=…, token=…, mysql -p…, and
# user:password@ in URLs. false: store command lines as ps printed them.
redact_args = true
# More regexes to mask; the first group of a match is masked, or all of it without one.
# Example: ['--vault-id[= ](\\S+)']
redact_patterns = []

[alerts]
# Rules are evaluated after every poll over the samples just stored; `onion alerts` shows
# what fires, `onion alerts test RULE --since 7d` replays a rule over stored history.
enabled = true         # evaluate rules after each poll
notifiers = []         # notifiers of rules that name none, e.g. ["mail"]; empty: alerts are
                       # recorded and shown by `onion alerts`, nothing is sent
disable = []           # built-in rules to turn off: host_down, filesystem_full, load_high,
                       # memory_low, gpu_hot, temperature_critical, file_changed,
                       # module_changed, host_rebooted, poller_stale (a central's);
                       # gpu_idle_reserved is off unless a [[alerts.rules]] table with its
                       # name says enabled = true
templates = ""         # folder of message templates that override the built-in ones
                       # (subject.txt, body.txt, body.html, short.txt; jinja2)
flap_window = "1h"     # an alert that changes state flap_changes times within flap_window
flap_changes = 6       # is held and reported once as flapping, until it is stable a window
retry_for = "2d"       # a message a notifier did not take is retried on each run this long
send_timeout = 10.0    # seconds one notifier may take to deliver one message
history_days = 400     # alert_events kept this long (0: forever)

# Custom rules, and tuning of the built-in ones, are [[alerts.rules]] tables. Every key with
# its default (name, condition and one of table or source are required):
#
# [[alerts.rules]]
# name = ""            # a built-in's name tunes that rule: only the keys given change
# table = ""           # table or view read: gpu, filesystems, polls, file_changes, *_rates…
# source = ""          # or a SELECT giving run_id, host, ts and the columns used
# items = []           # item key columns (a disk, a GPU); default: the table's key columns
# condition = ""       # SQL over one row, true when something is wrong
# clear = ""           # SQL that ends a firing alert (hysteresis); default: NOT condition
# value = ""           # SQL shown as the value in messages, e.g. "temperature_celsius"
# summary = ""         # jinja2 one-liner over the row's columns, e.g. "{{ mount }} full"
# for = "0s"           # the condition must hold this long before it fires (s, m, h, d, w)
# polls = 1            # … and in this many polls in a row
# repeat = ""          # remind this often while firing; "": never
# severity = "warning" # info, warning or critical
# labels = {}          # shown in messages and sent to webhooks, e.g. { team = "hpc" }
# notifiers = []       # who is told; empty: [alerts] notifiers
# event = false        # a change, not a state: told once, no recovery message
# recovery = true      # tell when it resolves
# enabled = true
#
# Example: a GPU above 100 °C for 5 minutes pages until it is below 95 °C.
# [[alerts.rules]]
# name = "gpu_very_hot"
# table = "gpu"
# condition = "temperature_celsius > 100"
# clear = "temperature_celsius < 95"
# value = "temperature_celsius"
# for = "5m"
# repeat = "1h"
# severity = "critical"
# notifiers = ["mail", "sms"]

# Notifiers are [notifiers.<name>] tables; `type` picks the plugin (entry point group
# onion.notifiers). Every key of the built-in ones, with its default:
#
# [notifiers.mail]
# type = "smtp"
# host = "localhost"
# port = 0              # 0: 465 with security = "tls", 587 with "starttls", 25 with "none"
# security = "starttls" # "starttls", "tls" (implicit TLS) or "none"
# username = ""         # log in when set
# password = ""
# password_file = ""    # or read the password from this file
# ca_file = ""          # trust this CA (a site relay); default: the system's CAs
# from_addr = ""        # default: onion@<this host's name>
# to = []               # required
# timeout = 0.0         # seconds; 0: [alerts] send_timeout
#
# [notifiers.hook]
# type = "webhook"
# url = ""              # required, http or https; the alerts are POSTed as JSON
# secret = ""           # HMAC-SHA256 of the body in header X-Onion-Signature: sha256=<hex>
# secret_file = ""      # or read the secret from this file
# headers = {}          # extra request headers
# ca_file = ""
# timeout = 0.0
#
# [notifiers.script]
# type = "command"
# argv = []             # required, no shell: ["/usr/local/bin/page", "--team", "hpc"]
# per_alert = false     # run once per alert instead of once per message
# env = {}              # extra environment variables
# timeout = 0.0
#
# [notifiers.sms]
# type = "apprise"      # needs `pip install onion-poller[apprise]`
# urls = []             # required, Apprise URLs: "sms://…", "mailto://…", "slack://…"
# short = false         # the short text (one line per alert), for SMS
# timeout = 0.0
'''
