"""The forwarding sink against a real HTTPS server on loopback: what each answer does to
the batch (taken, kept for later with a backoff, or refused into the dead-letter folder)."""

from __future__ import annotations

import http.server
import json
import ssl
import threading
import time
from pathlib import Path

import pytest

from onion.core.errors import BatchRefused, ConfigError, SinkError
from onion.storage import fanout, wire
from onion.storage.forward import Backoff, OnionForwardSink
from onion.storage.queue import Queue
from onion.storage.sink import SinkContext, Written
from tests.alerts.test_notifiers import _cert
from tests.storage.test_conformance import batch, row


class Central:
    """Answers each POST with the next (status, headers, body) of ``script``."""

    def __init__(self, folder: Path) -> None:
        self.cert, key = _cert(folder)
        self.script: list[tuple[int, dict[str, str], dict]] = []
        self.got: list[tuple[str, bytes]] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.got.append((self.headers["Authorization"], body))
                status, headers, reply = outer.script.pop(0)
                data = json.dumps(reply).encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.cert, key)
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def central(tmp_path):
    c = Central(tmp_path)
    yield c
    c.close()


def make(tmp_path: Path, central: Central, **extra: object) -> OnionForwardSink:
    token = tmp_path / "central.token"
    token.write_text("s3cret-token-of-this-poller\n")
    table = {"url": central.url, "token_file": str(token), "tls_ca": str(central.cert),
             "poller": "hpc1", "backoff_min": "10s", "backoff_max": "40s", **extra}
    return OnionForwardSink.from_config("central", table, SinkContext(
        tmp_path / "o.duckdb", tmp_path))


def test_taken_duplicate_and_what_was_sent(tmp_path, central):
    sink = make(tmp_path, central)
    central.script = [(200, {}, {"stored": True}), (200, {}, {"duplicate": True})]
    b = batch(5, [row(counter=1)])
    assert sink.write(b) is Written.STORED and sink.write(b) is Written.DUPLICATE
    auth, body = central.got[0]
    assert auth == "Bearer s3cret-token-of-this-poller"
    sent, _ = wire.decode(body, 1 << 20)
    assert sent.run_id == 5 and sent.meta["poller"] == "hpc1" and sent.data == b.data


def test_429_honours_retry_after_and_nothing_is_sent_before(tmp_path, central):
    sink = make(tmp_path, central)
    central.script = [(429, {"Retry-After": "120"}, {"error": "slow down"})]
    with pytest.raises(SinkError, match="HTTP 429: slow down"):
        sink.write(batch(5, [row(counter=1)]))
    state = Backoff.load(sink.state_path)
    assert state.failures == 1 and 115 < state.not_before - time.time() <= 120
    with pytest.raises(SinkError, match="next try in"):
        sink.open()              # no request while backing off
    assert len(central.got) == 1


def test_5xx_backs_off_doubling_with_jitter_up_to_the_maximum(tmp_path, central):
    sink = make(tmp_path, central)
    waits = []
    for _ in range(4):
        central.script = [(503, {}, {"error": "busy"})]
        with pytest.raises(SinkError, match="HTTP 503"):
            sink.write(batch(5, [row(counter=1)]))
        state = Backoff.load(sink.state_path)
        waits.append(state.not_before - time.time())
        state.not_before = 0     # as if the wait were over
        state.save(sink.state_path)
    lows, highs = [5, 10, 20, 20], [10, 20, 40, 40]   # 10 s doubling to 40 s, times 0.5 … 1
    assert all(lo - 1 < w <= hi for w, lo, hi in zip(waits, lows, highs, strict=True)), waits


def test_other_4xx_refuse_the_batch_and_a_success_clears_the_backoff(tmp_path, central):
    sink = make(tmp_path, central)
    central.script = [(422, {}, {"error": "batch refused: bad"}), (200, {}, {})]
    with pytest.raises(BatchRefused, match="HTTP 422"):
        sink.write(batch(5, [row(counter=1)]))
    assert not sink.state_path.exists()      # not the central's fault: no backoff
    for status in (401, 403, 404):           # settings to fix: the batch waits
        central.script = [(status, {}, {"error": "no"})]
        sink.state_path.unlink(missing_ok=True)
        with pytest.raises(SinkError) as info:
            sink.write(batch(5, [row(counter=1)]))
        assert not isinstance(info.value, BatchRefused)


def test_refused_batches_go_aside_and_the_rest_go_on(tmp_path, central):
    sink = make(tmp_path, central)
    queue = Queue(tmp_path / "spool")
    first = time.time_ns() // 1000     # run ids are start times (max_queue_age reads them)
    central.script = [(503, {}, {"error": "down"})]
    fanout.deliver([sink], queue, batch(first, [row(counter=1)]))   # waits in the queue
    Backoff().save(sink.state_path)                                   # the wait is over
    central.script = [(400, {}, {"error": "bad batch"}), (200, {}, {})]
    out = fanout.deliver([sink], queue, batch(first + 1, [row(counter=2)]))
    assert out.reports["central"].ok and not queue.entries()
    assert out.reports["central"].stored == [str(first + 1)]
    dead = queue.quarantined()
    assert [d.name for d in dead] == [f"{first:020d}.central"]
    assert "HTTP 400: bad batch" in (dead[0] / "REASON").read_text()


@pytest.mark.parametrize("table, message", [
    ({"url": "http://127.0.0.1:1"}, "https"),
    ({"when_full": "wait"}, "when_full"),
    ({"max_queue_bytes": 5}, "max_queue_bytes"),
    ({"backoff_min": "1m", "backoff_max": "10s"}, "backoff_max"),
    ({"tokenfile": "x"}, "unknown setting"),
])
def test_settings_are_checked(tmp_path, central, table, message):
    with pytest.raises(ConfigError, match=message):
        make(tmp_path, central, **table)


def test_batches_past_max_queue_age_are_dropped_and_kept_as_gaps(tmp_path, central):
    from onion.storage.queue import Limits

    queue = Queue(tmp_path / "spool")
    now = time.time_ns() // 1000
    old, fresh = now - 8 * 86_400 * 1_000_000, now
    for run_id in (old, fresh):
        queue.put(batch(run_id, [row(counter=1)]), ["central", "duckdb"])
    dropped = queue.enforce("central", Limits(None, 7 * 86_400.0))
    assert [d["run_id"] for d in dropped] == [old] and "max_queue_age" in dropped[0]["reason"]
    assert [int(e.name) for e in queue.pending("central")] == [fresh]
    assert len(queue.pending("duckdb")) == 2        # the other sink still gets it
    assert [g["run_id"] for g in queue.gaps("central")] == [old]
    queue.gaps_sent("central", 1)
    assert queue.gaps("central") == []
