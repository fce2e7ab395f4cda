"""A fleet in a DuckDB file, fed poll by poll with a controlled clock, and real servers on
loopback (HTTP, SMTP) that record what they receive."""

from __future__ import annotations

import datetime as dt
import json
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import duckdb
import pytest

from onion.alerts import live
from onion.core import config
from onion.pipeline.setup import load_config
from onion.probes import registry
from onion.storage import duck as store
from onion.storage import schema

T0 = (dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
      - dt.timedelta(days=1)).replace(second=0)


class Fleet:
    """Polls written straight into the store's schema, one round at a time."""

    def __init__(self, db: Path, cfg_path: Path) -> None:
        self.db, self.cfg_path = db, cfg_path
        self.run_id = 1_000_000
        self.now = T0
        tables = schema.tables_for(registry.installed().values())
        self.columns = {name: t.pairs() for name, t in tables.items()}
        con = duckdb.connect(str(db))
        store.ensure_schema(con, tables)
        con.close()

    def cfg(self) -> config.Config:
        return load_config(self.cfg_path, str(self.db))

    def poll(self, rows: dict[str, list[dict[str, Any]]] | None = None,
             down: dict[str, str] | None = None, hosts: tuple[str, ...] = ("a",),
             minutes: float = 5) -> live.Report:
        """One round ``minutes`` after the last: store it, then evaluate like run_poll."""
        self.now += dt.timedelta(minutes=minutes)
        self.run_id += 1
        down = down or {}
        con = duckdb.connect(str(self.db))
        try:
            con.execute("INSERT INTO runs (run_id, started_at, finished_at) VALUES (?, ?, ?)",
                        [self.run_id, self.now, self.now])
            for h in hosts:
                status = down.get(h, "ok")
                con.execute("INSERT INTO hot.polls (run_id, host, ts, status, reason) "
                            "VALUES (?, ?, ?, ?, ?)",
                            [self.run_id, h, self.now, status, None if status == "ok"
                             else "connection refused"])
            for table, recs in (rows or {}).items():
                probed = {r["host"] for r in recs}
                for h in probed:
                    con.execute("INSERT INTO hot.probe_results (run_id, host, ts, probe, status)"
                                " VALUES (?, ?, ?, ?, 'ok')", [self.run_id, h, self.now, table])
                for r in recs:
                    r = {"run_id": self.run_id, "ts": self.now, **r}
                    cols = ", ".join(f'"{c}"' for c in r)
                    marks = ", ".join("?" for _ in r)
                    con.execute(f'INSERT INTO hot."{table}" ({cols}) VALUES ({marks})',
                                list(r.values()))
        finally:
            con.close()
        return live.evaluate_after_poll(self.cfg(), self.db, self.now)

    def sql(self, query: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        con = duckdb.connect(str(self.db), read_only=True)
        try:
            return con.execute(query, params or []).fetchall()
        finally:
            con.close()


def recorder_argv(out: Path) -> str:
    """A command notifier's argv (TOML) that appends each message's JSON to ``out``."""
    code = "import sys; open(sys.argv[1], 'a').write(sys.stdin.read() + chr(10))"
    return json.dumps([sys.executable, "-c", code, str(out)])


def write_config(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.fixture
def fleet(tmp_path: Path) -> Fleet:
    return Fleet(tmp_path / "onion.duckdb", write_config(tmp_path / "onion.toml", ""))


class Hook:
    """An HTTP server on 127.0.0.1 that records POSTs and answers with a status we set."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.status = 200
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if hook.status == 200:
                    hook.requests.append((self.path, dict(self.headers), body))
                self.send_response(hook.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def payloads(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, _, body in self.requests]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook() -> Iterator[Hook]:
    h = Hook()
    yield h
    h.close()
