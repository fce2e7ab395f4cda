"""The batch between a poller and its central: every value back exactly as sent, and
anything else refused whole with the reason."""

from __future__ import annotations

import gzip
import json

import pytest

from onion.core.errors import BadBatch
from onion.storage import wire
from tests.storage.test_conformance import SAMPLES, TS, U64_MAX, batch, row


def _doc(b) -> dict:
    return json.loads(gzip.decompress(wire.encode(b)))


def test_every_type_comes_back_exactly():
    rows = [row(counter=U64_MAX, gauge=1.5, ratio=1 / 3, label="ä \"q\"", flag=True, seen=TS,
                tags=["a", "b"], small=-7),
            row(host="n2", counter=None, gauge=None, ratio=None, label=None, flag=None,
                seen=None, tags=None, small=None)]
    b = batch(7, rows)
    b.origin, b.origin_run_id, b.meta = "hpc1", 7, {"shard": "1/2"}
    back, gaps = wire.decode(wire.encode(b, [{"run_id": 3, "bytes": 10, "reason": "full"}]),
                             1 << 20)
    assert back.data == b.data and back.run_id == 7 and back.meta == {"shard": "1/2"}
    assert back.tables["samples"] == SAMPLES and back.batch_id == "hpc1/7"
    assert gaps == [{"run_id": 3, "bytes": 10, "reason": "full"}]


@pytest.mark.parametrize("spoil, message", [
    (lambda d: d.update(format=2), "format 1"),
    (lambda d: d.update(run_id=-1), "run_id"),
    (lambda d: d["data"]["samples"].update(counter=[1 << 64]), "out of range"),
    (lambda d: d["data"]["samples"].update(counter=["12"]), "not an integer"),
    (lambda d: d["data"]["samples"].update(seen=[17]), "ISO 8601"),
    (lambda d: d["data"]["samples"].update(label=["a", "b"]), "different lengths"),
    (lambda d: d["data"]["samples"].update(nope=[1]), "undeclared column"),
    (lambda d: d["data"].update(ghost={"x": [1]}), "does not declare"),
    (lambda d: d["tables"].update(samples={"columns": [["x", "NOPE"]]}), "samples"),
])
def test_a_bad_batch_is_refused_with_the_reason(spoil, message):
    doc = _doc(batch(7, [row(counter=1, label="x")]))
    spoil(doc)
    with pytest.raises(BadBatch, match=message):
        wire.decode(gzip.compress(json.dumps(doc).encode()), 1 << 20)


def test_not_gzip_and_a_zip_bomb_are_refused():
    with pytest.raises(BadBatch, match="gzip"):
        wire.decode(b"{}", 1 << 20)
    bomb = gzip.compress(b" " * (50 << 20))          # 50 MiB of spaces in ~50 KiB
    assert len(bomb) < 1 << 20
    with pytest.raises(BadBatch, match="inflates past"):
        wire.decode(bomb, 1 << 16)


def test_a_batch_an_older_onion_queued_is_still_read(tmp_path):
    """Before the wire format the queue held a folder: manifest.json and one JSON object
    per row per table (timestamps as ISO text)."""
    from onion.storage.queue import Queue

    b = batch(9, [row(counter=U64_MAX, label="x", seen=TS, tags=["a"])])
    entry = tmp_path / "spool" / f"{9:020d}"
    (entry / "sinks").mkdir(parents=True)
    (entry / "sinks" / "duckdb").write_text("")
    for table in b.data:
        (entry / f"{table}.jsonl").write_text("".join(
            json.dumps(r, default=lambda v: v.isoformat()) + "\n" for r in b.rows(table)))
    (entry / "manifest.json").write_text(json.dumps({
        "run_id": 9, "origin": "", "meta": {},
        "tables": {n: t.to_json() for n, t in b.tables.items()}}))
    queue = Queue(tmp_path / "spool")
    assert [e.name for e in queue.pending("duckdb")] == [entry.name]
    back = queue.load(entry)
    assert back.run_id == 9 and back.data["samples"] == b.data["samples"]
