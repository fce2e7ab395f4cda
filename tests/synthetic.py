"""Synthetic poll history written through the real store path (spool, then ingest)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from pathlib import Path

from onion.inventory.model import Host
from onion.poller.collect import HostResult, ProbeResult
from onion.poller.run import make_batch
from onion.probes.base import OS
from onion.probes.registry import installed
from onion.storage import duck as store

FIXTURES = Path(__file__).parent / "fixtures" / "linux-debian12"


def _parsed(probe_name: str, case: str) -> list:
    probe = installed()[probe_name]
    parts = {p.stem.split("--")[2]: p.read_text()
             for p in FIXTURES.glob(f"{probe_name}--{case}--*.out")}
    return probe.parse(OS.LINUX, parts)


def history(db: Path, spool_dir: Path, start: dt.datetime, days: int, hosts: int = 3,
            every: dt.timedelta = dt.timedelta(hours=1), seed: int = 1) -> int:
    """One batch per day of polls, stored; returns the number of polls written."""
    rnd = random.Random(seed)
    probes = [installed()[n] for n in ("network", "cpu", "memory", "processes")]
    base = {p.name: _parsed(p.name, {"processes": "procps"}.get(p.name, "host")) for p in probes}
    t = start
    polls = 0
    run_id = int(start.timestamp() * 1e6)
    for _day in range(days):
        results = []
        end = t + dt.timedelta(days=1)
        while t < end:
            k = polls // hosts + 1
            for h in range(hosts):
                recs = {
                    "network": [dataclasses.replace(r, rx_bytes=(r.rx_bytes or 0) + k * 1000
                                                    + rnd.randrange(100)) for r in base["network"]],
                    "cpu": [dataclasses.replace(r, user_seconds=(r.user_seconds or 0) + k * 10.0,
                                                load_1m=rnd.random() * 4) for r in base["cpu"]],
                    "memory": [dataclasses.replace(r, available_bytes=(r.available_bytes or 0)
                                                   - rnd.randrange(1 << 20))
                               for r in base["memory"]],
                    "processes": [dataclasses.replace(r, cpu_pct=rnd.random() * 50)
                                  for r in base["processes"]],
                }
                results.append(HostResult(
                    Host(name=f"node{h:02d}"), "ok", collected_at=t, os=OS.LINUX,
                    probes={n: ProbeResult(n, "ok", None, v) for n, v in recs.items()}))
                polls += 1
            t += every
        run_id += 1
        store_batch(db, make_batch(run_id, results, probes, {
            "run_id": run_id, "started_at": t, "finished_at": t, "hosts": hosts}))
    return polls


def store_batch(db: Path, batch) -> None:
    """One batch written as a poll writes it."""
    with store.private_files():
        con = store.connect(db)
        try:
            store.write_batch(con, batch)
        finally:
            con.close()
