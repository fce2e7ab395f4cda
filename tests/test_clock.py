"""The poller's clock stepping back must not stop alerting.

Run ids were wall-clock microseconds and alerts judge only the polls after the last one
judged: after a step back, new polls went unjudged until the clock caught up. A clock
that was a day ahead at the last run and is right now is the same step back.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import duckdb


def onion(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "onion.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_run_ids_keep_increasing_and_polls_are_judged_after_a_step_back(tmp_path: Path):
    db = tmp_path / "o.duckdb"
    cfg = tmp_path / "onion.toml"
    cfg.write_text(f'[storage]\ndb = "{db}"\n[probes]\nenable = ["memory"]\n')
    assert onion("poll", "--config", str(cfg), cwd=tmp_path).returncode == 0
    ahead = time.time_ns() // 1000 + 86_400 * 1_000_000  # the last run "was" a day ahead
    (tmp_path / "o.duckdb.runid").write_text(f"{ahead}\n")
    stepped = onion("poll", "--config", str(cfg), cwd=tmp_path)
    assert stepped.returncode == 0
    assert "clock is 86" in stepped.stderr and "behind the last run" in stepped.stderr
    assert onion("poll", "--config", str(cfg), cwd=tmp_path).returncode == 0
    con = duckdb.connect(str(db), read_only=True)
    ids = [r[0] for r in con.execute("SELECT run_id FROM runs ORDER BY started_at, run_id")
           .fetchall()]
    assert len(ids) == 3 and ids[1] == ahead + 1 and ids[2] == ahead + 2
    judged = [r[0] for r in con.execute("SELECT run_id FROM alert_runs ORDER BY run_id")
              .fetchall()]
    assert judged == ids  # every poll judged, the ones after the step included
