"""One bad value, or one bad queued batch, must never block the rounds after it.

Before: a host whose ps printed %CPU = 1e39 (finite for Python, out of range for a
32-bit FLOAT) failed the whole run's insert; the batch went to the spool, failed again
on every later run, and clean batches queued behind it for ever.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import duckdb

from onion.storage.batch import Batch
from onion.storage.queue import Queue
from onion.storage.schema import CORE

PS_HEADER = ("  PID  PPID   UID USER     STAT %CPU %MEM   RSS    VSZ ELAPSED     TIME "
             "COMMAND         ARGS")


def onion(*args: str, cwd: Path, env: dict[str, str] | None = None):
    return subprocess.run([sys.executable, "-m", "onion.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def _config(tmp: Path, extra: str = "") -> Path:
    cfg = tmp / "onion.toml"
    cfg.write_text(f'[storage]\ndb = "{tmp / "o.duckdb"}"\n'
                   '[probes]\nenable = ["memory", "processes"]\n' + extra)
    return cfg


def _runs(tmp: Path) -> int:
    con = duckdb.connect(str(tmp / "o.duckdb"), read_only=True)
    try:
        return con.execute("SELECT count(*) FROM runs").fetchone()[0]
    finally:
        con.close()


def test_a_float_out_of_range_costs_one_probe_and_later_runs_store(tmp_path: Path) -> None:
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "ps").write_text(
        "#!/bin/sh\n"
        f"echo '{PS_HEADER}'\n"
        "echo '    1     0     0 root     Ss   1e39  0.1 13056 168752   43741        2 "
        "systemd         /sbin/init splash'\n")
    (fake / "ps").chmod(0o755)
    cfg = _config(tmp_path)
    env = {**os.environ, "PATH": f"{fake}:{os.environ['PATH']}"}
    bad = onion("poll", "--config", str(cfg), cwd=tmp_path, env=env)
    assert bad.returncode == 0, bad.stderr
    con = duckdb.connect(str(tmp_path / "o.duckdb"), read_only=True)
    status, reason = con.execute("SELECT status, reason FROM probe_results "
                                 "WHERE probe = 'processes'").fetchone()
    assert status == "parse_error" and "cpu_pct = 1e+39 is out of range" in reason
    assert con.execute("SELECT count(*) FROM memory").fetchone()[0] == 1
    con.close()
    for _ in range(3):
        assert onion("poll", "--config", str(cfg), cwd=tmp_path).returncode == 0
    assert _runs(tmp_path) == 4
    assert Queue(tmp_path / "o.duckdb.spool").entries() == []


def _poison(run_id: int) -> Batch:
    """A batch whose memory row holds text where DuckDB wants an unsigned integer: what a
    batch queued by an older, less careful Onion could hold."""
    from onion.probes.memory import PROBE
    from onion.storage.schema import probe_table

    spec = probe_table(PROBE)
    tables = {**CORE, "memory": spec}
    data = {"runs": {c: [None] for c in CORE["runs"].names},
            "memory": {c: [None] for c in spec.names}}
    data["runs"]["run_id"] = [run_id]
    data["memory"].update(run_id=[run_id], host=["x"], ts=[dt.datetime(2026, 1, 1)],
                          total_bytes=["lots"])
    return Batch(run_id, tables, data)


def test_a_queued_batch_the_database_refuses_is_quarantined(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    queue = Queue(tmp_path / "o.duckdb.spool")
    queue.put(_poison(1_000), ["duckdb"], "test")
    run = onion("poll", "--config", str(cfg), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "refused queued batch 00000000000000001000" in run.stderr
    assert _runs(tmp_path) == 1           # this round stored; the poison is not
    assert queue.entries() == []
    (held,) = queue.quarantined()
    assert "sink duckdb refused this batch" in (held / "REASON").read_text()
    again = onion("poll", "--config", str(cfg), cwd=tmp_path)
    assert again.returncode == 0 and "1 batch(es) in quarantine" in again.stderr
    stats = onion("db", "stats", "--config", str(cfg), cwd=tmp_path)
    assert "quarantine:" in stats.stdout and _runs(tmp_path) == 2


def test_a_sink_that_is_down_is_not_mistaken_for_poison(tmp_path: Path) -> None:
    blocker = tmp_path / "blocked"
    blocker.write_text("a file where the folder should be")
    cfg = _config(tmp_path, f'[sinks.text]\ntype = "jsonl"\npath = "{blocker / "j"}"\n')
    for _ in range(2):
        assert onion("poll", "--config", str(cfg), cwd=tmp_path).returncode == 1
    queue = Queue(tmp_path / "o.duckdb.spool")
    assert queue.waiting() == {"text": 2} and queue.quarantined() == []
    blocker.unlink()
    assert onion("poll", "--config", str(cfg), cwd=tmp_path).returncode == 0
    assert queue.entries() == [] and queue.quarantined() == []
    assert len(list((blocker / "j" / "memory").glob("*.jsonl"))) == 1


def test_a_ps_over_the_section_cap_keeps_its_first_rows(tmp_path: Path) -> None:
    """About 100,000 processes used to store none at all; now the first rows that fit
    the cap are stored, with the status `truncated` and the count."""
    fake = tmp_path / "bin"
    fake.mkdir()
    # Every column where procps puts it, so that the rows are cut at the ARGS column.
    row = ("{pid}     1  1000 alice    S     0.5  0.0 13952 211393       1        0 "
           "worker          python3 /srv/job.py --id {pid}")
    (fake / "ps").write_text(
        "#!/bin/sh\n"
        f"echo '{PS_HEADER}'\n"
        f"awk 'BEGIN {{ for (i = 2; i < 100000; i++) "
        f"printf \"{row.format(pid='%5d')}\\n\", i, i }}'\n")
    (fake / "ps").chmod(0o755)
    cfg = _config(tmp_path, "[poller]\nmax_section_bytes = 1048576\n")
    env = {**os.environ, "PATH": f"{fake}:{os.environ['PATH']}"}
    run = onion("poll", "--config", str(cfg), cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stderr
    con = duckdb.connect(str(tmp_path / "o.duckdb"), read_only=True)
    status, reason, records = con.execute(
        "SELECT status, reason, records FROM probe_results WHERE probe = 'processes'").fetchone()
    stored, top = con.execute("SELECT count(*), max(pid) FROM processes").fetchone()
    print(f"\n{reason}")
    assert status == "truncated" and f"the first {records} rows kept" in reason
    assert stored == records and 1000 < stored < 99_998
    assert top == stored + 1  # the first rows, in order, none half-read
    assert con.execute("SELECT status FROM polls").fetchone()[0] == "ok"


def test_one_odd_ps_row_costs_that_row_the_probe_is_partial(tmp_path: Path) -> None:
    """A VSZ wider than its column shifts the rest of that row (seen with procps on a
    2 GiB process): that row is left out and quoted, the other processes are stored."""
    fake = tmp_path / "bin"
    fake.mkdir()
    good = ("{pid:>5}     1  1000 alice    S     0.5  0.0 13952 211393       1        0 "
            "worker          python3 /srv/job.py")
    odd = (" 8132     1  1000 alice+   S     3.9  0.0 13952 2113936     1        0 "
           "Web Content     firefox -contentproc")
    rows = [good.format(pid=p) for p in (2, 3, 4)] + [odd]
    (fake / "ps").write_text("#!/bin/sh\n" + "".join(f"echo '{r}'\n" for r in [PS_HEADER,
                                                                             *rows]))
    (fake / "ps").chmod(0o755)
    env = {**os.environ, "PATH": f"{fake}:{os.environ['PATH']}"}
    assert onion("poll", "--config", str(_config(tmp_path)), cwd=tmp_path,
                 env=env).returncode == 0
    con = duckdb.connect(str(tmp_path / "o.duckdb"), read_only=True)
    status, reason = con.execute("SELECT status, reason FROM probe_results "
                                 "WHERE probe = 'processes'").fetchone()
    assert status == "partial" and "1 line(s) not understood" in reason and "8132" in reason
    assert [r[0] for r in con.execute("SELECT pid FROM processes ORDER BY pid").fetchall()] \
        == [2, 3, 4]
