"""``onion sql`` (and every read path) reads the database and its archive, nothing else.

Each query below was a way out before: writing a file (COPY into authorized_keys),
reading one (read_text('/etc/shadow'), read_csv, glob), attaching another database
read-write, several statements, SET, INSTALL. Each is refused now, while the views over
the archived Parquet files still answer.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from click.testing import CliRunner

from onion.cli.main import main
from onion.storage import archive
from onion.storage import duck as store
from tests.synthetic import history

START = dt.datetime(2026, 1, 1)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sql")
    path = root / "o.duckdb"
    history(path, root / "spool", START, days=3)
    archive.maintain(path, root / "o.archive", archive.Retention(hot_days=1, raw_days=0,
                     days_5m=0, days_1h=0), START + dt.timedelta(days=3, hours=1))
    return path


def sql(db: Path, query: str, *extra: str):
    return CliRunner().invoke(main, ["sql", "--db", str(db), "--format", "csv", *extra, query])


def test_views_over_the_archive_still_answer(db: Path) -> None:
    with store.reading(db) as con:
        archived = con.execute("SELECT count(*) FROM archive_files").fetchone()[0]
        assert archived > 0  # the question below reads Parquet files
    res = sql(db, "SELECT count(*) AS n FROM network")
    assert res.exit_code == 0, res.output
    assert int(res.output.splitlines()[1]) > 0
    res = sql(db, "WITH x AS (SELECT host FROM network_1h) SELECT count(DISTINCT host) FROM x")
    assert res.exit_code == 0 and res.output.splitlines()[1] == "3"


@pytest.mark.parametrize(("query", "refusal"), [
    ("COPY (SELECT 'ssh-ed25519 AAAA') TO '{tmp}/authorized_keys'", "only SELECT"),
    ("SELECT * FROM read_text('/etc/passwd')", "file system operations are disabled"),
    ("SELECT * FROM read_csv('/etc/hostname')", "file system operations are disabled"),
    ("SELECT * FROM glob('/etc/*')", "file system operations are disabled"),
    ("ATTACH '{tmp}/other.duckdb' AS o", "only SELECT"),
    ("SELECT 1; SELECT 2", "one statement at a time"),
    ("SET enable_external_access = true", "only SELECT"),
    ("INSTALL httpfs", "only SELECT"),
    ("CREATE TABLE x AS SELECT 1", "only SELECT"),
    ("SELECT * FROM query('COPY (SELECT 1) TO ''{tmp}/q.csv''')", ""),
])
def test_every_way_out_is_refused(db: Path, tmp_path: Path, query: str, refusal: str) -> None:
    res = sql(db, query.format(tmp=tmp_path))
    assert res.exit_code != 0
    assert refusal in res.output
    assert list(tmp_path.iterdir()) == []  # nothing was written


def test_rows_and_time_are_bounded(db: Path) -> None:
    res = sql(db, "SELECT * FROM range(50)", "--max-rows", "7")
    assert res.exit_code == 0
    assert len(res.stdout.splitlines()) == 1 + 7
    assert "only the first 7 rows" in res.stderr
    res = sql(db, "SELECT count(*) FROM range(1000000000000)", "--timeout", "0.3")
    assert res.exit_code != 0 and "past its 0.3 s limit" in res.output
