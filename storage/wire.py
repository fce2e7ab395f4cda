"""A batch between a poller and its central: gzip-compressed JSON, a list per column.

::

    {"format": 1, "run_id": 1764590400000000, "origin": "", "meta": {…},
     "tables": {"cpu": {"columns": [["run_id", "UBIGINT"], …], "counters": […]}, …},
     "data": {"cpu": {"run_id": [1764590400000000, …], "ts": ["2026-12-01T12:00:00", …]}},
     "gaps": [{"run_id": …, "bytes": …, "at": "…", "reason": "…"}]}

Integers stay exact (JSON numbers are read back as Python ints: a 2**64-1 counter
survives), timestamps are ISO 8601 text (naive UTC). Decoding checks the shape and that
every value fits its column's type, so a bad batch is refused as a whole, before any
sink sees it.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import zlib
from typing import Any

from onion.core.errors import BadBatch, ParseError
from onion.core.types import LogicalType
from onion.probes.base import Column, check_values
from onion.storage.batch import Batch
from onion.storage.schema import TableSpec

FORMAT = 1
# Not Content-Encoding: gzip, which servers and proxies may inflate before the receiver
# can bound it; the compressed body is the format itself.
CONTENT_TYPE = "application/vnd.onion.batch+gzip"


def _stamp(v: Any) -> Any:
    if isinstance(v, dt.datetime):
        return (v.astimezone(dt.UTC).replace(tzinfo=None) if v.tzinfo else v).isoformat()
    if isinstance(v, tuple):
        return list(v)
    raise TypeError(f"{type(v).__name__} is not JSON")


def _iso(values: list[Any]) -> list[Any]:
    # A round's rows share a few timestamps: each converted once (json.dumps would call
    # back into Python for every one of them).
    seen: dict[Any, Any] = {}
    out = []
    for v in values:
        text = seen.get(v)
        if text is None:
            text = seen[v] = None if v is None else _stamp(v)
        out.append(text)
    return out


def encode(batch: Batch, gaps: list[dict[str, Any]] | None = None) -> bytes:
    data: dict[str, dict[str, list[Any]]] = {}
    for table, cols in batch.data.items():
        spec = batch.tables.get(table)
        stamps = {c.name for c in spec.columns if c.type is LogicalType.TIMESTAMP} \
            if spec else set()
        data[table] = {c: _iso(v) if c in stamps else v for c, v in cols.items()}
    doc = {"format": FORMAT, "run_id": batch.run_id, "origin": batch.origin,
           "origin_run_id": batch.origin_run_id, "meta": batch.meta,
           "tables": {n: t.to_json() for n, t in batch.tables.items()},
           "data": data, "gaps": gaps or []}
    text = json.dumps(doc, default=_stamp, separators=(",", ":"), allow_nan=False)
    return gzip.compress(text.encode(), compresslevel=5, mtime=0)


def decode(body: bytes, max_bytes: int) -> tuple[Batch, list[dict[str, Any]]]:
    """The batch and the gaps it reports; BadBatch says what is wrong."""
    try:
        # Bounded: a small body must not inflate into gigabytes (a "zip bomb").
        d = zlib.decompressobj(wbits=31)
        text = d.decompress(body, max_bytes * 20)
        if d.unconsumed_tail:
            raise BadBatch(f"the batch inflates past {max_bytes * 20} bytes")
        doc = json.loads(text)
    except (zlib.error, UnicodeDecodeError, ValueError) as exc:
        raise BadBatch(f"not a gzip-compressed JSON batch: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise BadBatch(f"not an Onion batch of format {FORMAT}")
    try:
        tables = {name: _spec(name, spec) for name, spec in _dict(doc, "tables").items()}
        data: dict[str, dict[str, list[Any]]] = {}
        for name, cols in _dict(doc, "data").items():
            if name not in tables:
                raise BadBatch(f"rows for table {name!r}, which the batch does not declare")
            data[name] = _columns(tables[name], cols)
        run_id = doc.get("run_id")
        if type(run_id) is not int or not 0 < run_id < 1 << 63:
            raise BadBatch(f"run_id must be a positive integer, not {run_id!r}")
        gaps = doc.get("gaps") or []
        if not isinstance(gaps, list) or not all(isinstance(g, dict) for g in gaps):
            raise BadBatch("gaps must be a list of objects")
        meta = doc.get("meta") or {}
        if not isinstance(meta, dict):
            raise BadBatch("meta must be an object")
        origin_run = doc.get("origin_run_id") or 0
        if type(origin_run) is not int or origin_run < 0:
            raise BadBatch(f"origin_run_id must be an integer, not {origin_run!r}")
    except (KeyError, TypeError, ValueError) as exc:
        raise BadBatch(f"{type(exc).__name__}: {exc}") from exc
    return Batch(run_id, tables, data, str(doc.get("origin") or ""), meta,
                 origin_run), gaps[:10_000]


def _dict(doc: dict[str, Any], key: str) -> dict[str, Any]:
    value = doc.get(key)
    if not isinstance(value, dict):
        raise BadBatch(f"{key} must be an object")
    return value


def _spec(name: str, spec: Any) -> TableSpec:
    if not isinstance(spec, dict) or not isinstance(spec.get("columns"), list):
        raise BadBatch(f"table {name!r}: no column list")
    try:
        return TableSpec.from_json(name, spec["columns"], spec)
    except (ValueError, TypeError, KeyError) as exc:
        raise BadBatch(f"table {name!r}: {exc}") from exc


def _columns(spec: TableSpec, cols: Any) -> dict[str, list[Any]]:
    if not isinstance(cols, dict):
        raise BadBatch(f"table {spec.name!r}: columns must be an object")
    unknown = set(cols) - set(spec.names)
    if unknown:
        raise BadBatch(f"table {spec.name!r}: undeclared column(s) {sorted(unknown)}")
    lengths = {len(v) for v in cols.values() if isinstance(v, list)}
    if len(lengths) > 1 or not all(isinstance(v, list) for v in cols.values()):
        raise BadBatch(f"table {spec.name!r}: columns of different lengths")
    n = lengths.pop() if lengths else 0
    out: dict[str, list[Any]] = {}
    for c in spec.columns:
        values = cols.get(c.name)
        if values is None:
            values = [None] * n
        if c.type is LogicalType.TIMESTAMP:
            values = [None if v is None else _timestamp(v) for v in values]
        try:
            check_values(Column(c.name, c.type, True), values)
        except ParseError as exc:
            raise BadBatch(f"table {spec.name!r}: {exc}") from exc
        out[c.name] = values
    return out


def _timestamp(v: Any) -> dt.datetime:
    if not isinstance(v, str):
        raise BadBatch(f"a timestamp must be ISO 8601 text, not {v!r}")
    t = dt.datetime.fromisoformat(v)
    return t.astimezone(dt.UTC).replace(tzinfo=None) if t.tzinfo else t


__all__ = ["CONTENT_TYPE", "FORMAT", "decode", "encode"]
