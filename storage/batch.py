"""One round's rows, table by table and column by column, on their way to every sink.

Columns, not row dicts: DuckDB reads them as list parameters (a small table) or numpy
arrays (a big one) at C speed, which is most of what storing costs per host
(bench/poll.py), and other engines take them as they are.
A batch is identified by its ``batch_id`` (the origin and the run id): every sink stores a
batch once, however often it is handed over (a retry after a crash, a replay from the
queue).

On disk (the queue) and on the wire a batch is :mod:`onion.storage.wire`'s gzip JSON.
An older Onion queued a folder (``manifest.json`` and a ``<table>.jsonl`` per table, a
JSON object per row): :meth:`Batch.read_folder` still reads those.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from onion.core.types import LogicalType
from onion.storage.schema import CORE, TableSpec


@dataclass(slots=True)
class Batch:
    run_id: int
    tables: dict[str, TableSpec]
    data: dict[str, dict[str, list[Any]]]          # table -> column -> values
    origin: str = ""                                # the poller it came from ("" = here)
    meta: dict[str, Any] = field(default_factory=dict)
    # A central stores a poller's batch under a run id of its own; this is the poller's,
    # which (with the origin) names the batch however often it arrives.
    origin_run_id: int = 0

    @property
    def batch_id(self) -> str:
        if not self.origin:
            return str(self.run_id)
        return f"{self.origin}/{self.origin_run_id or self.run_id}"

    def row_count(self, table: str) -> int:
        cols = self.data.get(table) or {}
        return len(next(iter(cols.values()), []))

    def rows(self, table: str) -> Iterator[dict[str, Any]]:
        cols = self.data.get(table) or {}
        names = list(cols)
        for values in zip(*cols.values(), strict=True):
            yield dict(zip(names, values, strict=True))

    # -- on disk, as an older Onion queued it ---------------------------------------------

    @classmethod
    def read_folder(cls, folder: Path) -> Batch:
        manifest = json.loads((folder / "manifest.json").read_text())
        tables: dict[str, TableSpec] = {}
        for name, spec in manifest["tables"].items():
            if isinstance(spec, list):  # written before specs carried their meta
                spec = {"columns": spec, **(manifest.get("counters", {}).get(name) or {})}
            tables[name] = TableSpec.from_json(name, spec["columns"], spec)
        for name, spec in CORE.items():  # an older spool lists only its sample tables
            tables.setdefault(name, spec)
        data: dict[str, dict[str, list[Any]]] = {}
        for name, spec in tables.items():
            path = folder / f"{name}.jsonl"
            if not path.exists():
                continue
            cols: dict[str, list[Any]] = {c.name: [] for c in spec.columns}
            stamps = [c.name for c in spec.columns if c.type is LogicalType.TIMESTAMP]
            with path.open(encoding="utf-8") as f:
                for line in f:
                    row = json.loads(line)
                    for s in stamps:
                        if row.get(s) is not None:
                            row[s] = dt.datetime.fromisoformat(row[s])
                    for c, values in cols.items():
                        values.append(row.get(c))
            data[name] = cols
        return cls(int(manifest["run_id"]), tables, data, manifest.get("origin", ""),
                   manifest.get("meta", {}), int(manifest.get("origin_run_id") or 0))
