"""The daemon's HTTP API (aiohttp): JSON, the alert stream (server-sent events), the live
report and Prometheus ``/metrics``; described by ``/api/openapi.json``.

Where it listens: a Unix socket, 0600 (whoever can open it is the daemon's own user: no
token asked); on TCP only when ``[daemon] listen`` is set, and then with TLS and a bearer
token on every path but ``/healthz``. Every error is JSON ``{"error": "…"}``. Requests are
limited in size, queries in time and rows; no response or log line holds the token.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import decimal
import hmac
import json
import logging
import os
import socket
import ssl
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from onion.alerts import live
from onion.alerts import tables as alert_tables
from onion.core import duration
from onion.core.errors import BadBatch, ConfigError, OnionError, QueryRefused, StorageError
from onion.core.files import private_dir
from onion.core.sqltext import ident
from onion.core.version import __version__, channel
from onion.daemon import metrics, openapi
from onion.reports import names as report_names
from onion.reports import render
from onion.storage import catalog, hoststate, wire
from onion.storage import duck as store

if TYPE_CHECKING:
    from onion.daemon.service import Daemon

log = logging.getLogger("onion.daemon.api")

DAEMON: web.AppKey[Daemon] = web.AppKey("daemon")
SSE_KEEPALIVE_S = 15.0
LATEST_MAX_ROWS = 10_000


def jsonable(v: Any) -> Any:
    """Database values as JSON: timestamps are naive UTC, said with a Z."""
    if isinstance(v, dt.datetime):
        return (v.astimezone(dt.UTC).replace(tzinfo=None) if v.tzinfo else v).isoformat() + "Z"
    if isinstance(v, dt.date | dt.time):
        return v.isoformat()
    if isinstance(v, dt.timedelta):
        return v.total_seconds()
    if isinstance(v, decimal.Decimal):
        return float(v)
    if isinstance(v, bytes):
        return v.hex()
    if isinstance(v, uuid.UUID | Path):
        return str(v)
    if isinstance(v, set | frozenset | tuple):
        return list(v)
    return str(v)


def reply(data: Any, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(data, default=jsonable), status=status,
                        content_type="application/json")


def _error(status: int, message: str) -> web.Response:
    return reply({"error": message, "status": status}, status)


def _over_tcp(request: web.Request) -> bool:
    sock = request.transport.get_extra_info("socket") if request.transport else None
    return sock is None or sock.family != socket.AF_UNIX


@web.middleware
async def errors(request: web.Request,
                 handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                 ) -> web.StreamResponse:
    """Every error as JSON with a message; a bug's traceback in the log, not the reply."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _error(exc.status, exc.text if exc.text and not exc.text.startswith(
            str(exc.status)) else exc.reason)
    except (QueryRefused, ConfigError) as exc:
        return _error(400, str(exc))
    except StorageError as exc:
        return _error(503, str(exc))
    except OnionError as exc:
        return _error(409, str(exc))
    except (asyncio.CancelledError, ConnectionResetError):
        raise
    except Exception as exc:  # a bug: logged with its traceback at -vv, said briefly
        log.debug("API %s %s failed", request.method, request.path, exc_info=True)
        log.error("onion daemon: API %s %s: %s: %s", request.method, request.path,
                  type(exc).__name__, exc)
        return _error(500, f"internal error: {type(exc).__name__}")


def _auth(token: bytes | None) -> Callable[..., Any]:
    @web.middleware
    async def auth(request: web.Request,
                   handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                   ) -> web.StreamResponse:
        if request.path in OWN_AUTH or not _over_tcp(request):
            return await handler(request)
        given = request.headers.get("Authorization", "")
        scheme, _, value = given.partition(" ")
        # Constant-time: the time taken says nothing of how much of the token was right.
        if token is None or scheme.lower() != "bearer" or not hmac.compare_digest(
                value.strip().encode(), token):
            return _unauthorized("a bearer token is required (Authorization: Bearer …, the "
                                 "[daemon] token_file)")
        return await handler(request)
    return auth


# Paths that do not take the API token: /healthz takes none, a central's batches take
# each poller's own (checked by the handler, also on the socket).
BATCHES = "/api/v1/batches"
OWN_AUTH = {"/healthz", BATCHES}


def _unauthorized(message: str) -> web.Response:
    return web.Response(text=json.dumps({"error": message, "status": 401}), status=401,
                        content_type="application/json",
                        headers={"WWW-Authenticate": 'Bearer realm="onion"'})


def daemon_of(request: web.Request) -> Daemon:
    return request.app[DAEMON]


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        data = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise web.HTTPBadRequest(text=f"the body is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(text="the body must be a JSON object")
    return data


async def healthz(request: web.Request) -> web.Response:
    d = daemon_of(request)
    return reply({"ok": not d.stopping.is_set(), "version": __version__})


async def status(request: web.Request) -> web.Response:
    return reply(daemon_of(request).status())


def _read(d: Daemon, work: Callable[[Any], Any]) -> Awaitable[Any]:
    """``work(cursor)`` on a thread, reading the database beside the rounds."""
    def run() -> Any:
        with d.db.reading() as cur:
            return work(cur)
    return asyncio.to_thread(run)


async def hosts(request: web.Request) -> web.Response:
    d = daemon_of(request)
    try:
        states = await _read(d, hoststate.load)
    except StorageError:
        states = {}  # no round stored yet: every host is "never polled"
    running = d.current.statuses if d.current else {}
    out = []
    for h in d.hosts:
        s = states.get(h.name, hoststate.HostState())
        out.append({"host": h.name, "target": "local" if h.local else h.target,
                    "port": h.port, "user": h.user, "groups": list(h.groups),
                    "status": s.status, "last_seen": s.last_seen, "last_ok": s.last_ok,
                    "reason": s.reason, "probes_not_ok": s.probes_not_ok,
                    "polling": h.name in running})
    return reply({"hosts": out})


async def latest(request: web.Request) -> web.Response:
    d = daemon_of(request)
    table = request.match_info["table"]
    host = request.query.get("host")
    limit = _int(request.query.get("limit"), LATEST_MAX_ROWS, "limit")

    def work(cur: Any) -> dict[str, Any]:
        if table not in catalog.table_specs(cur):
            raise QueryRefused(f"no table {table!r} (GET /api/tables lists them)")
        sql = f"SELECT * FROM {ident('latest_' + table)}"
        rel = cur.execute(sql + (" WHERE host = ?" if host else "") +
                          " ORDER BY host LIMIT ?", [*([host] if host else []), limit])
        cols = [c[0] for c in rel.description]
        return {"table": table, "columns": cols, "rows": rel.fetchall()}
    return reply(await _read(d, work))


async def list_tables(request: web.Request) -> web.Response:
    d = daemon_of(request)
    specs = await _read(d, catalog.table_specs)
    return reply({"tables": sorted(specs)})


def _int(text: str | None, cap: int, name: str) -> int:
    if text is None:
        return cap
    try:
        n = int(text)
    except ValueError:
        raise web.HTTPBadRequest(text=f"{name} must be a whole number, not {text!r}") from None
    if n < 1:
        raise web.HTTPBadRequest(text=f"{name} must be at least 1")
    return min(n, cap)


async def query(request: web.Request) -> web.Response:
    d = daemon_of(request)
    body = await _body(request)
    sql = body.get("sql")
    if not isinstance(sql, str) or not sql.strip():
        raise web.HTTPBadRequest(text='the body needs "sql": one SELECT')
    cap = d.cfg.daemon.query_max_rows
    max_rows = body.get("max_rows", cap)
    if not isinstance(max_rows, int) or isinstance(max_rows, bool) or max_rows < 1:
        raise web.HTTPBadRequest(text='"max_rows" must be a whole number above 0')
    out = await _read(d, lambda cur: store.select(cur, sql, min(max_rows, cap),
                                                  d.cfg.daemon.query_timeout))
    return reply({"columns": out.columns, "rows": out.rows, "truncated": out.truncated})


def _alerts(cur: Any, since: dt.datetime, limit: int) -> dict[str, Any]:
    if not alert_tables.exists(cur):
        return {"firing": [], "history": []}
    rel = cur.execute(alert_tables.CURRENT_SQL)
    cols = [c[0] for c in rel.description]
    firing = [dict(zip(cols, r, strict=True)) for r in rel.fetchall()]
    rel = cur.execute(
        "SELECT ts, run_id, rule, host, item, event, state, severity, value, summary, notify, "
        "duration_s FROM alert_events WHERE ts >= ? ORDER BY ts DESC LIMIT ?", [since, limit])
    cols = [c[0] for c in rel.description]
    return {"firing": firing, "history": [dict(zip(cols, r, strict=True))
                                          for r in rel.fetchall()]}


async def alerts(request: web.Request) -> web.Response:
    d = daemon_of(request)
    try:
        window = report_names.parse_since(request.query.get("since", "7d"))
    except ValueError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from exc
    limit = _int(request.query.get("limit"), 10_000, "limit")
    since = dt.datetime.now(dt.UTC).replace(tzinfo=None) - window
    try:
        data = await _read(d, lambda cur: _alerts(cur, since, limit))
    except StorageError:
        data = {"firing": [], "history": []}
    return reply(data)


async def alert_stream(request: web.Request) -> web.StreamResponse:
    """Alert events as they are judged, one ``event: alert`` each; a comment every 15 s
    keeps proxies from closing a quiet stream."""
    d = daemon_of(request)
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                       "Cache-Control": "no-cache"})
    await resp.prepare(request)
    q = d.listen()
    stopping = asyncio.ensure_future(d.stopping.wait())
    try:
        await resp.write(b": onion alert stream\n\n")
        while not d.stopping.is_set():
            getting = asyncio.ensure_future(q.get())
            done, _ = await asyncio.wait({getting, stopping}, timeout=SSE_KEEPALIVE_S,
                                         return_when=asyncio.FIRST_COMPLETED)
            if getting not in done:
                getting.cancel()
                if not d.stopping.is_set():
                    await resp.write(b": keepalive\n\n")
                continue
            ev = getting.result()
            kind = "overflow" if ev.get("event") == "overflow" and len(ev) == 1 else "alert"
            data = json.dumps(ev, default=jsonable).replace("\n", "\\n")
            await resp.write(f"event: {kind}\ndata: {data}\n\n".encode())
            if kind == "overflow":
                break
        with contextlib.suppress(ConnectionError):
            await resp.write(b"event: bye\ndata: {}\n\n")
    except ConnectionError:
        pass  # the listener went away
    finally:
        stopping.cancel()
        d.unlisten(q)
    return resp


async def poll(request: web.Request) -> web.Response:
    d = daemon_of(request)
    body = await _body(request)
    limit = body.get("limit")
    if limit is not None and not isinstance(limit, str):
        raise web.HTTPBadRequest(text='"limit" must be a pattern string')
    rec = await d.poll_now(limit)
    return reply({**rec.as_json(), "statuses": rec.statuses})


async def reload(request: web.Request) -> web.Response:
    d = daemon_of(request)
    error = await d.reload_now()
    if error:
        return _error(409, f"reload refused, still running the previous config: {error}")
    return reply({"reloaded": True, "hosts": len(d.hosts)})


async def metrics_page(request: web.Request) -> web.Response:
    d = daemon_of(request)
    try:
        fleet = await _read(d, metrics.fleet)
    except StorageError:
        fleet = []
    text = metrics.exposition([*fleet, *own_metrics(d)])
    return web.Response(text=text, headers={"Content-Type": metrics.CONTENT_TYPE})


def own_metrics(d: Daemon) -> list[metrics.Family]:
    """The daemon's own: rounds, how long the last took, hosts ok/failed, queue, SSH."""
    F, S, G, C = metrics.Family, metrics.Sample, metrics.MetricKind.GAUGE, \
        metrics.MetricKind.COUNTER
    last = d.rounds[-1] if d.rounds else None
    out = [
        F("onion_daemon_rounds_total", C, "Rounds run since the daemon started",
          [S({}, d.counts["rounds"])]),
        F("onion_daemon_rounds_skipped_total", C,
          "Scheduled rounds skipped because the one before ran past the interval",
          [S({}, d.counts["skipped"])]),
        F("onion_daemon_reloads_total", C, "Config reloads (SIGHUP or API) applied",
          [S({}, d.counts["reloads"])]),
        F("onion_daemon_ssh_logins_total", C, "SSH logins made (jump hosts included)",
          [S({}, d.ssh.connects)]),
        F("onion_daemon_connections_open", G, "SSH connections kept open now",
          [S({}, d.ssh.open_connections)]),
        F("onion_daemon_hosts", G, "Hosts in the inventory", [S({}, len(d.hosts))]),
        F("onion_daemon_queue_batches", G, "Batches waiting in the queue, per sink",
          [S({"sink": k}, v) for k, v in sorted(d.queue_waiting.items())]),
        F("onion_daemon_start_time_seconds", G, "When the daemon started (Unix time)",
          [S({}, d.started_at.replace(tzinfo=dt.UTC).timestamp())]),
        F("onion_build_info", G, "The running Onion: its version and release channel",
          [S({"version": __version__, "channel": str(channel())}, 1.0)]),
    ]
    if last is not None:
        out += [
            F("onion_daemon_last_round_duration_seconds", G, "Wall time of the last round",
              [S({}, last.wall_s or 0.0)]),
            F("onion_daemon_last_round_hosts", G, "Hosts of the last round by outcome",
              [S({"outcome": "ok"}, last.ok), S({"outcome": "failed"}, last.failed)]),
            F("onion_daemon_last_round_stored", G,
              "1 when the last round is in the database, 0 while it waits in the queue",
              [S({}, 1.0 if last.stored else 0.0)]),
        ]
    if d.central is not None:
        c = d.central.status()
        out += [
            F("onion_central_batches_total", C, "Batches from pollers, by outcome",
              [S({"outcome": k}, c[k]) for k in ("batches", "duplicates", "refused", "failed")]),
            F("onion_central_poller_last_batch_age_seconds", G,
              "Seconds since each poller's last batch (absent: never heard from)",
              [S({"poller": p["name"]}, p["age_s"]) for p in c["pollers"]
               if p["age_s"] is not None]),
            F("onion_central_poller_gaps_total", C, "Rounds each poller reported dropped",
              [S({"poller": p["name"]}, p["gaps"]) for p in c["pollers"]]),
        ]
    return out


class ReportCache:
    """Live report pages, rendered on request and kept until the next round is stored."""

    MAX_PAGES = 512

    def __init__(self) -> None:
        self.generation = -1
        self.pages: dict[tuple[str, float], str] = {}

    def get(self, generation: int, key: tuple[str, float]) -> str | None:
        if generation != self.generation:
            self.generation, self.pages = generation, {}
        return self.pages.get(key)

    def put(self, key: tuple[str, float], text: str) -> None:
        if len(self.pages) >= self.MAX_PAGES:
            self.pages.pop(next(iter(self.pages)))
        self.pages[key] = text


CACHE: web.AppKey[ReportCache] = web.AppKey("report_cache")


def _render_page(cur: Any, page: str, since: dt.timedelta,
                 always_show: list[str] | None = None, refresh_s: float = 30.0) -> str | None:
    # live: the page asks again now and then (a 304 while the ETag holds) and swaps in
    # what changed; the written folder never does.
    rep = render.Report(cur, since, always_show=always_show or (), live=True,
                        refresh_s=refresh_s, shared=True)
    if page == "gpus.html":
        return rep.gpus()
    if page == "index.html":
        return rep.overview()
    if page == "alerts.html":
        return rep.alerts()
    if page == "changes.html":
        return rep.changes()
    prefix = render.HOST_DIR + "/"
    if page.startswith(prefix):
        row = next((r for r in rep.rows if r.page == page[len(prefix):]), None)
        return rep.host(row) if row is not None else None
    return None


async def report_page(request: web.Request) -> web.Response:
    d = daemon_of(request)
    page = request.match_info.get("page") or "index.html"
    if page in render.ASSETS:   # the style and script every page names
        return web.Response(text=render.assets()[page], content_type=render.ASSETS[page],
                            headers={"X-Content-Type-Options": "nosniff",
                                     "Cache-Control": "no-cache"})
    try:
        since = report_names.parse_since(request.query.get("since", "7d"))
    except ValueError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from exc
    cache = request.app[CACHE]
    key = (page, since.total_seconds())
    generation = d.db.generation
    # A page changes only when a round was stored (the generation, which starts again
    # with the daemon): the live page's script asks with If-None-Match, a 304 until then.
    started = d.started_at.replace(tzinfo=dt.UTC).timestamp()
    etag = f'"{started:.0f}-{generation}-{since.total_seconds():.0f}"'
    if etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers={"ETag": etag, "Cache-Control": "no-cache"})
    text = cache.get(generation, key)
    if text is None:
        interval = duration.parse(d.cfg.daemon.interval, "[daemon] interval").total_seconds()
        text = await _read(d, lambda cur: _render_page(
            cur, page, since, list(d.cfg.report.always_show), min(max(interval, 5.0), 300.0)))
        if text is None:
            raise web.HTTPNotFound(text=f"no report page {page!r}")
        cache.put(key, text)
    return web.Response(text=text, content_type="text/html",
                        headers={"X-Content-Type-Options": "nosniff",
                                 "Cache-Control": "no-cache", "ETag": etag})


async def report_root(request: web.Request) -> web.Response:
    raise web.HTTPFound("/report/")


async def _read_bounded(request: web.Request, limit: int) -> bytes:
    if request.content_length is not None and request.content_length > limit:
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=request.content_length,
                                            text=f"a batch is {limit} bytes at most "
                                                 "([central] max_batch_bytes)")
    chunks, size = [], 0
    async for chunk in request.content.iter_chunked(1 << 16):
        size += len(chunk)
        if size > limit:
            raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=size,
                                                text=f"a batch is {limit} bytes at most "
                                                     "([central] max_batch_bytes)")
        chunks.append(chunk)
    return b"".join(chunks)


async def receive_batch(request: web.Request) -> web.Response:
    """A poller's batch (a central only): stored once, 200 also for one it has."""
    d = daemon_of(request)
    c = d.central
    if c is None:
        raise web.HTTPNotFound(text="this daemon takes no batches (a central does: "
                                    "[daemon] role = \"central\")")
    poller = c.who(request.headers.get("Authorization", ""))
    if poller is None:
        return _unauthorized("a poller's token is required (Authorization: Bearer …, a "
                             "[central.pollers.NAME] token_file)")
    limit = d.cfg.central.max_batch_bytes
    body = await _read_bounded(request, limit)
    try:
        batch, gaps = await asyncio.to_thread(wire.decode, body, limit)
    except BadBatch as exc:
        c.counts["refused"] += 1
        log.warning("onion daemon: a batch from poller %s refused: %s", poller.name, exc)
        return _error(422, f"batch refused: {exc}")
    got = await asyncio.to_thread(c.receive, poller, batch, gaps)
    if got.judged is not None:
        await asyncio.to_thread(live.deliver_after_poll, d.cfg, d.cfg.db_path, got.judged,
                                d.db.writing)
        if got.judged.report.runs:
            await d.announce(got.judged.report.runs)
    log.debug("onion daemon: batch %s/%s: %s", poller.name, batch.origin_run_id,
              "duplicate" if got.duplicate else f"{got.rows} rows")
    return reply(got.as_json())


async def openapi_doc(request: web.Request) -> web.Response:
    return reply(openapi.DOCUMENT)


ROUTES: list[tuple[str, str, Callable[[web.Request], Awaitable[web.StreamResponse]]]] = [
    ("GET", "/healthz", healthz),
    ("GET", "/api/status", status),
    ("GET", "/api/hosts", hosts),
    ("GET", "/api/tables", list_tables),
    ("GET", "/api/latest/{table}", latest),
    ("GET", "/api/alerts", alerts),
    ("GET", "/api/alerts/stream", alert_stream),
    ("POST", "/api/query", query),
    ("POST", "/api/poll", poll),
    ("POST", "/api/reload", reload),
    ("POST", BATCHES, receive_batch),
    ("GET", "/api/openapi.json", openapi_doc),
    ("GET", "/metrics", metrics_page),
    ("GET", "/report", report_root),
    ("GET", "/report/{page:.*}", report_page),
]


def app(d: Daemon, token: bytes | None) -> web.Application:
    application = web.Application(middlewares=[errors, _auth(token)],
                                  client_max_size=d.cfg.daemon.max_request_bytes)
    application[DAEMON] = d
    application[CACHE] = ReportCache()
    for method, path, handler in ROUTES:
        application.router.add_route(method, path, handler)
    return application


def read_token(path: str) -> bytes:
    p = Path(path).expanduser()
    try:
        token = p.read_bytes().strip()
    except OSError as exc:
        raise ConfigError(f"[daemon] token_file {p}: {exc.strerror} (`onion init` writes "
                          "one)") from exc
    if len(token) < 16:
        raise ConfigError(f"[daemon] token_file {p}: the token is too short (16 characters "
                          "at least; `onion init` writes a random one)")
    if p.stat().st_mode & 0o077:
        raise ConfigError(f"[daemon] token_file {p} is readable by others: chmod 600 it")
    return token


def tls_context(cert: str, key: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(Path(cert).expanduser(), Path(key).expanduser())
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"[daemon] tls_cert / tls_key: {exc}") from exc
    return ctx


async def start(d: Daemon) -> web.AppRunner:
    """Listen on the socket (and TCP if configured); the runner, to close at the end."""
    cfg = d.cfg
    sock_path = cfg.socket_path
    if len(os.fsencode(sock_path)) > 100:
        raise ConfigError(f"[daemon] socket {sock_path}: too long for a Unix socket path "
                          "(over 100 bytes); set a shorter [daemon] socket")
    token = tls = None
    if cfg.daemon.listen:
        token = read_token(cfg.daemon.token_file)
        tls = tls_context(cfg.daemon.tls_cert, cfg.daemon.tls_key)
    runner = web.AppRunner(app(d, token), access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    try:
        private_dir(sock_path.parent)
        with contextlib.suppress(FileNotFoundError):
            if sock_path.is_socket():
                sock_path.unlink()  # left by a daemon that was killed: we hold the lock now
        old = os.umask(0o177)
        try:
            await web.UnixSite(runner, str(sock_path)).start()
        finally:
            os.umask(old)
        os.chmod(sock_path, 0o600)
        if cfg.daemon.listen:
            host, _, port = cfg.daemon.listen.rpartition(":")
            await web.TCPSite(runner, host.strip("[]"), int(port), ssl_context=tls).start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner


__all__ = ["ROUTES", "app", "jsonable", "start"]
