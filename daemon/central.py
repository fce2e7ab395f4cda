"""A central Onion: the daemon with ``[daemon] role = "central"`` takes batches from
pollers (each forwarding through a sink of type ``onion``) and stores them as its own.

- Each poller has its own token (``[central.pollers.NAME] token_file``); the name the
  batch is stored under comes from the token, never from the batch, so one poller cannot
  write as another.
- Each batch is stored once: its id (poller name + the poller's run id) goes into the
  ``received_batches`` ledger in the transaction that stores its rows; a batch that is
  there already is answered 200 with ``duplicate``, and nothing is written twice. The
  central gives it a run id of its own (pollers' ids could meet), so its alerts and
  report see the whole fleet as one.
- The reply is 200 only once the central's DuckDB has the batch; its other sinks take it
  then, or it waits in the central's queue for them. Anything else the poller retries.
- Every round of the central writes the ``pollers`` table (one row per poller: when it
  last sent, how long ago), which the built-in ``poller_stale`` rule judges; gaps a poller
  reports (batches it dropped) become ``storage_events`` here (action ``poller_gap``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hmac
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from onion.alerts import live
from onion.core import duration
from onion.core.clock import utcnow
from onion.core.config import Config
from onion.core.errors import ConfigError, SinkError, StorageError
from onion.core.types import LogicalType as T
from onion.pipeline import setup
from onion.pipeline.runid import next_run_id
from onion.storage import catalog, fanout
from onion.storage import duck as store
from onion.storage.batch import Batch
from onion.storage.duckdb_sink import DuckDBSink
from onion.storage.queue import Queue
from onion.storage.schema import ROW_PREFIX, ColumnSpec, TableSpec
from onion.storage.sink import Written

log = logging.getLogger("onion.daemon.central")

POLLERS = TableSpec("pollers", ROW_PREFIX + tuple(ColumnSpec(n, t) for n, t in (
    ("last_batch_at", T.TIMESTAMP), ("age_s", T.DOUBLE), ("stale_after_s", T.DOUBLE),
    ("batches", T.UBIGINT), ("rows", T.UBIGINT), ("shard", T.VARCHAR), ("gaps", T.UBIGINT))))
MIN_TOKEN = 16


@dataclass(frozen=True, slots=True)
class Poller:
    name: str
    token: bytes = field(repr=False)
    host_prefix: str = ""


@dataclass(slots=True)
class Seen:
    last_at: dt.datetime | None = None
    batches: int = 0
    rows: int = 0
    shard: str | None = None
    gaps: int = 0


@dataclass(slots=True)
class Received:
    stored: bool
    duplicate: bool
    run_id: int | None
    rows: int
    judged: live.Judged | None = None
    errors: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"stored": self.stored, "duplicate": self.duplicate, "run_id": self.run_id,
                "rows": self.rows, "errors": self.errors}


def _token(name: str, path_text: Any, base: Path | None) -> bytes:
    where = f"[central.pollers.{name}] token_file"
    if not isinstance(path_text, str) or not path_text:
        raise ConfigError(f"{where} is required (`onion central token {name}` writes one)")
    path = Path(path_text).expanduser()
    if not path.is_absolute() and base is not None:
        path = base / path
    try:
        token = path.read_bytes().strip()
        mode = path.stat().st_mode
    except OSError as exc:
        raise ConfigError(f"{where} {path}: {exc.strerror}") from exc
    if len(token) < MIN_TOKEN:
        raise ConfigError(f"{where} {path}: the token is too short ({MIN_TOKEN} characters "
                          "at least)")
    if mode & 0o077:
        raise ConfigError(f"{where} {path} is readable by others: chmod 600 it")
    return token


def load_pollers(cfg: Config) -> dict[str, Poller]:
    """The pollers a central takes batches from; a ConfigError says what is wrong."""
    base = cfg.source.parent if cfg.source else None
    out: dict[str, Poller] = {}
    tokens: set[bytes] = set()
    for name, table in cfg.central.pollers.items():
        unknown = set(table) - {"token_file", "host_prefix"}
        if unknown:
            raise ConfigError(f"[central.pollers.{name}]: unknown setting(s) "
                              f"{', '.join(sorted(unknown))} (known: host_prefix, token_file)")
        prefix = table.get("host_prefix", "")
        if not isinstance(prefix, str):
            raise ConfigError(f"[central.pollers.{name}] host_prefix must be text")
        token = _token(name, table.get("token_file"), base)
        if token in tokens:
            raise ConfigError(f"[central.pollers.{name}]: its token is another poller's; "
                              "each poller needs its own")
        tokens.add(token)
        out[name] = Poller(name, token, prefix)
    return out


def _prefixed(batch: Batch, prefix: str) -> None:
    if not prefix:
        return
    for cols in batch.data.values():
        hosts = cols.get("host")
        if hosts is not None:
            cols["host"] = [None if h is None else f"{prefix}{h}" for h in hosts]


class Central:
    """The central's side of the daemon: who may send, and storing what they send."""

    def __init__(self, cfg: Config, registry: Any,
                 writing: Callable[[], contextlib.AbstractContextManager[Any]]) -> None:
        self.cfg = cfg
        self.registry = registry
        self.pollers = load_pollers(cfg)
        self._writing = writing
        self.seen: dict[str, Seen] = {}
        self._seen_lock = threading.Lock()
        self._loaded = False
        self.started = utcnow()
        self.counts = {"batches": 0, "duplicates": 0, "refused": 0, "failed": 0}

    def reconfigure(self, cfg: Config, registry: Any) -> None:
        pollers = load_pollers(cfg)  # a bad file leaves the running set as it was
        self.cfg, self.registry, self.pollers = cfg, registry, pollers

    @property
    def stale_after_s(self) -> float:
        return duration.parse(self.cfg.central.stale_after,
                              "[central] stale_after").total_seconds()

    def who(self, authorization: str) -> Poller | None:
        """The poller whose token this is. Every token is compared, in constant time each,
        so the time taken says neither which poller nor how much was right."""
        scheme, _, value = authorization.partition(" ")
        given = value.strip().encode()
        found = None
        for poller in self.pollers.values():
            if hmac.compare_digest(given, poller.token) and scheme.lower() == "bearer":
                found = poller
        return found

    # -- storing a batch (a worker thread) ------------------------------------------------

    def receive(self, poller: Poller, batch: Batch, gaps: list[dict[str, Any]]) -> Received:
        """Store a poller's batch once. StorageError (the database could not take it now)
        means the poller keeps it and tries again."""
        batch.origin, batch.origin_run_id = poller.name, batch.run_id
        _prefixed(batch, poller.host_prefix)
        rows = sum(batch.row_count(t) for t in batch.data)
        now = utcnow()
        with self._writing():
            self._load_seen()
            duck = DuckDBSink.from_settings(self.cfg)
            try:
                duck.open()
                assert duck.con is not None
                if self._has(duck, batch.batch_id):
                    self._record_gaps(duck, poller, gaps, now)
                    self._saw(poller, batch, 0, now, duplicate=True)
                    return Received(False, True, None, rows)
                run = next_run_id(self.cfg.db_path)
                for cols in batch.data.values():
                    if "run_id" in cols:
                        cols["run_id"] = [run.value] * len(cols["run_id"])
                batch.run_id = run.value
                batch.meta = {**batch.meta, "received_at": now,
                              "shard": str(batch.meta.get("shard") or "") or None}
                with store.private_files():
                    duck.ensure_schema(batch.tables)
                    written = duck.write(batch)
                self._record_gaps(duck, poller, gaps, now)
                judged = live.judge_after_poll(self.cfg, duck.con, now)
                duck.checkpoint()
            except SinkError as exc:
                self.counts["failed"] += 1
                raise StorageError(f"the central's database cannot take it now: {exc}") \
                    from exc
            finally:
                duck.close()
            others = [s for s in setup.sinks(self.cfg, self.registry)
                      if not isinstance(s, DuckDBSink)]
            errors: list[str] = []
            if others and written is Written.STORED:
                queue = Queue(self.cfg.spool_path)
                try:
                    out = fanout.deliver(others, queue, batch)
                    errors = out.errors
                finally:
                    for s in others:
                        with contextlib.suppress(Exception):
                            s.close()
        duplicate = written is Written.DUPLICATE
        self._saw(poller, batch, rows, now, duplicate)
        return Received(not duplicate, duplicate, run.value, rows, judged, errors)

    def _has(self, duck: DuckDBSink, batch_id: str) -> bool:
        assert duck.con is not None
        if not catalog.has_table(duck.con, store.LEDGER):
            return False  # the first batch this central takes
        return bool(duck.con.execute(f"SELECT 1 FROM {store.LEDGER} WHERE batch_id = ?",
                                     [batch_id]).fetchone())

    def _record_gaps(self, duck: DuckDBSink, poller: Poller, gaps: list[dict[str, Any]],
                     now: dt.datetime) -> None:
        """Each batch the poller dropped, once (a gap may arrive again with a resent
        batch), as a storage event the report and `onion sql` show."""
        if not gaps or duck.con is None:
            return
        con = duck.con
        with store.private_files():
            for gap in gaps:
                run_id = gap.get("run_id")
                if type(run_id) is not int:
                    continue
                key = f"poller {poller.name}: round {run_id} "
                if con.execute("SELECT 1 FROM storage_events WHERE action = 'poller_gap' "
                               "AND starts_with(detail, ?)", [key]).fetchone():
                    continue
                at = dt.datetime.fromtimestamp(run_id / 1e6, dt.UTC).replace(tzinfo=None)
                size = gap.get("bytes")
                con.execute("INSERT INTO storage_events VALUES (?, 'poller_gap', ?, NULL, ?, "
                            "?, ?)", [now, poller.name, at.date(),
                                      size if type(size) is int and size >= 0 else None,
                                      f"{key}({at:%Y-%m-%d %H:%M:%S} UTC) dropped: "
                                      f"{str(gap.get('reason') or 'no reason given')[:300]}"])
        with self._seen_lock:
            self.seen.setdefault(poller.name, Seen()).gaps += len(gaps)

    def _load_seen(self) -> None:
        """What the ledger says of each poller, once: a restarted central knows when
        each last sent."""
        if self._loaded:
            return
        self._loaded = True
        with contextlib.suppress(Exception):
            with store.reading(self.cfg.db_path) as con:
                for origin, last, n, rows, shard in con.execute(
                        f"SELECT origin, max(received_at), count(*), sum(rows), "
                        f"arg_max(shard, received_at) FROM {store.LEDGER} GROUP BY origin"
                        ).fetchall():
                    self.seen[origin] = Seen(last, int(n), int(rows or 0), shard)

    def _saw(self, poller: Poller, batch: Batch, rows: int, now: dt.datetime,
             duplicate: bool) -> None:
        with self._seen_lock:
            s = self.seen.setdefault(poller.name, Seen())
            s.last_at = now
            s.shard = str(batch.meta.get("shard") or "") or s.shard
            if duplicate:
                self.counts["duplicates"] += 1
            else:
                s.batches += 1
                s.rows += rows
                self.counts["batches"] += 1

    # -- the central's own round ----------------------------------------------------------

    def table(self, run_id: int, now: dt.datetime) -> dict[str, list[Any]]:
        """The ``pollers`` rows of this round: every configured poller, and any other
        that sent (one removed from the config keeps its last word)."""
        with self._seen_lock:
            seen = dict(self.seen)
        names = sorted(set(self.pollers) | set(seen))
        stale = self.stale_after_s
        cols: dict[str, list[Any]] = {c: [] for c in POLLERS.names}
        for name in names:
            s = seen.get(name) or Seen()
            # Never heard from: as old as the central's knowledge of it (its start).
            last = s.last_at
            age = (now - last).total_seconds() if last else (now - self.started).total_seconds()
            for key, value in (("run_id", run_id), ("host", name), ("ts", now),
                               ("last_batch_at", last), ("age_s", max(age, 0.0)),
                               ("stale_after_s", stale), ("batches", s.batches),
                               ("rows", s.rows), ("shard", s.shard), ("gaps", s.gaps)):
                cols[key].append(value)
        return cols

    def status(self) -> dict[str, Any]:
        now = utcnow()
        with self._seen_lock:
            seen = dict(self.seen)
        stale = self.stale_after_s
        pollers = []
        for name in sorted(set(self.pollers) | set(seen)):
            s = seen.get(name) or Seen()
            age = (now - s.last_at).total_seconds() if s.last_at else None
            pollers.append({"name": name, "configured": name in self.pollers,
                            "last_batch_at": s.last_at, "age_s": age, "batches": s.batches,
                            "rows": s.rows, "shard": s.shard, "gaps": s.gaps,
                            "stale": age is None or age > stale})
        return {"pollers": pollers, "stale_after_s": stale, **self.counts}


def extra_tables(central: Central | None, run_id: int, now: dt.datetime
                 ) -> Mapping[str, tuple[TableSpec, dict[str, list[Any]]]]:
    if central is None:
        return {}
    return {POLLERS.name: (POLLERS, central.table(run_id, now))}
