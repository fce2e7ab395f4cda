"""Archiving that is cut (kill -9, a full disk), a lost archive file, and an archive
moved with its database: no view ever shows fewer or more rows than were stored, and
nothing is left behind for good."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from onion.cli.main import main
from onion.storage import archive
from onion.storage import duck as store
from tests.synthetic import history

START = dt.datetime(2026, 1, 1)
TABLES = ("network", "cpu", "processes", "polls", "network_1h", "processes_top")


def counts(db: Path) -> dict[str, int]:
    """Rows per view, read the way every query path reads."""
    with store.reading(db) as con:
        return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES
                if t not in ("network_1h", "processes_top")}


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("seed")
    history(root / "o.duckdb", root / "spool", START, days=6, hosts=4)
    return root / "o.duckdb"


MAINTAIN = """
import datetime as dt, sys
from pathlib import Path
from onion.storage import archive
db = Path(sys.argv[1])
archive.maintain(db, db.with_name(db.name + ".archive"),
                 archive.Retention(hot_days=1, raw_days=3, days_5m=0, days_1h=0),
                 dt.datetime(2026, 1, 7, 1), force_rewrite=False)
print("done", flush=True)
"""


def test_kill_9_anywhere_in_maintenance_keeps_every_view_whole(seeded: Path, tmp_path: Path):
    want = counts(seeded)
    # How long a whole maintenance takes here, to spread the kills over it.
    full = tmp_path / "full"
    full.mkdir()
    shutil.copy(seeded, full / "o.duckdb")
    t0 = time.monotonic()
    subprocess.run([sys.executable, "-c", MAINTAIN, str(full / "o.duckdb")], check=True)
    took = time.monotonic() - t0
    retained = counts(full / "o.duckdb")  # retention drops whole old days on purpose
    landed = 0
    for i in range(8):
        work = tmp_path / f"k{i}"
        work.mkdir()
        db = work / "o.duckdb"
        shutil.copy(seeded, db)
        proc = subprocess.Popen([sys.executable, "-c", MAINTAIN, str(db)],
                                stdout=subprocess.PIPE, text=True)
        time.sleep(0.3 + took * i / 8)
        proc.kill()
        out, _ = proc.communicate()
        landed += "done" not in out
        # After the kill: every view shows the rows of before or of after, nothing between.
        assert counts(db) in (want, retained), i
        # The next maintenance finishes the job and sweeps what the kill left.
        subprocess.run([sys.executable, "-c", MAINTAIN, str(db)], check=True)
        assert counts(db) == retained, i
        assert archive.check(db).ok, archive.check(db)
    print(f"\nmaintenance {took:.2f} s; {landed} of 8 kills landed before it finished")
    assert landed >= 3  # the kills really cut maintenance, not only an idle process


def test_a_full_disk_while_archiving_hides_nothing_and_leaves_no_file(tmp_path: Path,
                                                                      small_disk) -> None:
    mnt = small_disk("160k")
    db = tmp_path / "o.duckdb"
    history(db, tmp_path / "spool", START, days=4, hosts=4)
    want = counts(db)
    keep_all = archive.Retention(hot_days=1, raw_days=0, days_5m=0, days_1h=0)
    with pytest.raises((OSError, duckdb.Error, archive.StorageError)):
        archive.maintain(db, mnt / "archive", keep_all, START + dt.timedelta(days=4, hours=1))
    assert counts(db) == want
    left = list((mnt / "archive").rglob("*.parquet")) if (mnt / "archive").exists() else []
    con = duckdb.connect(str(db), read_only=True)
    named = {r[0] for r in con.execute("SELECT path FROM archive_files").fetchall()}
    con.close()
    # Every file on the disk is one the catalog names: the failed day's are gone.
    assert {str(f.relative_to(mnt / "archive")) for f in left} == named


def test_a_missing_archive_file_is_reported_not_fatal(seeded: Path, tmp_path: Path):
    db = tmp_path / "o.duckdb"
    shutil.copy(seeded, db)
    arch = tmp_path / "o.duckdb.archive"
    archive.maintain(db, arch, archive.Retention(hot_days=1, raw_days=0, days_5m=0,
                     days_1h=0), START + dt.timedelta(days=6, hours=1))
    before = counts(db)
    lost = sorted((arch / "network" / "raw").glob("*.parquet"))[0]
    lost_rows = duckdb.connect().execute(
        f"SELECT count(*) FROM read_parquet('{lost}')").fetchone()[0]
    lost.unlink()
    after = counts(db)  # no exception: the views skip the missing file
    assert after["network"] == before["network"] - lost_rows
    assert after["cpu"] == before["cpu"]
    res = CliRunner().invoke(main, ["sql", "--db", str(db), "--format", "csv",
                                    "SELECT count(*) FROM network_rates"])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(main, ["report", "--db", str(db), "--out", str(tmp_path / "r")])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(main, ["db", "check", "--db", str(db)])
    assert res.exit_code == 1 and f"missing: {lost}" in res.output


def test_the_database_and_archive_moved_together_still_answer(seeded: Path, tmp_path: Path):
    old = tmp_path / "old"
    old.mkdir()
    db = old / "o.duckdb"
    shutil.copy(seeded, db)
    archive.maintain(db, old / "o.duckdb.archive", archive.Retention(
        hot_days=1, raw_days=0, days_5m=0, days_1h=0), START + dt.timedelta(days=6, hours=1))
    before = counts(db)
    new = tmp_path / "new"
    old.rename(new)
    assert counts(new / "o.duckdb") == before
    res = CliRunner().invoke(main, ["db", "check", "--db", str(new / "o.duckdb")])
    assert res.exit_code == 0, res.output
