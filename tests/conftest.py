"""Shared test fixtures. The real-output corpus is read through ONION_CORPUS."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
# The plugin author's guide's example plugins: real drop-in files, run by the same
# fixture, fuzz and conformance harnesses as the built-ins.
EXAMPLE_PLUGINS = Path(__file__).parent.parent / "docs" / "examples"

# The suite asserts English text whatever the machine's locale (LANG=sv_SE.UTF-8 would
# otherwise give Swedish); tests of other languages ask for them. Set before onion's
# i18n is imported, and inherited by every daemon and CLI the tests start.
os.environ["ONION_LANG"] = "en"
# Caches (the report's compiled templates) in a folder of the run's own, not the user's.
os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="onion-test-cache-")
atexit.register(shutil.rmtree, os.environ["XDG_CACHE_HOME"], ignore_errors=True)


@pytest.fixture(autouse=True)
def _english_again():
    """A test that switched the language in this process (``--lang sv`` through click's
    runner) leaves English behind it."""
    yield
    from onion.core import i18n
    if i18n.language() != i18n.SOURCE:
        i18n.use(i18n.SOURCE)


def corpus_dir() -> Path | None:
    value = os.environ.get("ONION_CORPUS")
    if not value:
        return None
    path = Path(value)
    return path if path.is_dir() else None


@pytest.fixture
def corpus() -> Path:
    path = corpus_dir()
    if path is None:
        pytest.skip("ONION_CORPUS is not set to the folder of recorded real outputs "
                    "(CI sets it to ../shared/corpus)")
    return path


def corpus_files(pattern: str) -> list[Path]:
    """Corpus files matching a glob (relative to the corpus root); [] without a corpus."""
    root = corpus_dir()
    return sorted(root.glob(pattern)) if root else []


def corpus_params(pattern: str) -> list:
    """pytest params over corpus files, or one skipped param saying why there are none."""
    files = corpus_files(pattern)
    if not files:
        return [pytest.param(None, marks=pytest.mark.skip(
            reason=f"no corpus files for {pattern!r}: set ONION_CORPUS to the recorded outputs"))]
    root = corpus_dir()
    return [pytest.param(f, id=str(f.relative_to(root))) for f in files]


@pytest.fixture
def small_disk(tmp_path: Path):
    """A real file system that fills up: ``small_disk(size)`` mounts a tmpfs of that size
    (\"1m\", \"160k\") and returns its folder; unmounted after the test."""
    import subprocess

    mounted: list[Path] = []

    def mount(size: str) -> Path:
        mnt = tmp_path / f"disk{len(mounted)}"
        mnt.mkdir()
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mnt)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            pytest.skip(f"cannot mount a {size} tmpfs to fill (needs root): "
                        f"{r.stderr.strip()}")
        mounted.append(mnt)
        return mnt

    yield mount
    for mnt in mounted:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


@pytest.fixture(scope="session")
def pg():
    """A real PostgreSQL server (tests/pgserver.py), one per session, on first use."""
    from tests import pgserver

    if pgserver.bin_dir() is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI: PostgreSQL (Debian's postgresql package) must be installed")
        pytest.skip("PostgreSQL is not installed (Debian: postgresql)")
    server = pgserver.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def mysql_server():
    """A real MariaDB server (tests/mysqld.py), one per session, on first use."""
    from tests import mysqld

    missing = mysqld.missing()
    if missing:
        if os.environ.get("CI") == "true":   # CI installs it: missing there is a failure
            pytest.fail(f"the MySQL sink's tests need a server: {missing}")
        pytest.skip(missing)
    server = mysqld.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def chdb_engine():
    """ClickHouse in this process (chDB, a test extra): the ClickHouse sink's engine
    where no server is at hand."""
    try:
        import chdb  # noqa: F401
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("CI: chdb (a test extra) must be installed")
        pytest.skip("chdb is not installed (pip install chdb): no in-process ClickHouse")
    return True
