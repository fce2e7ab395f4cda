"""Secrets stay out of storage, logs and the report; files are private; nothing is injected.

- Command lines that carry secrets are masked before the batch is written
  (poller/redact.py, applied once in poller.run.make_batch), by default and configurably.
- Passwords in the inventory never reach a log line, the database or the report.
- The database, its WAL, the lock file and the spool are created 0600 (folders 0700)
  whatever the umask.
- Hostile watched paths, host names and user names reach the remote shell quoted (or
  never reach a shell): the payloads would create a marker file, which never appears.
"""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from onion.cli.main import main
from onion.core.errors import ConfigError
from onion.inventory.model import LOCALHOST, Host
from onion.pipeline.round import run_poll
from onion.pipeline.setup import load_config
from onion.poller.redact import DEFAULT, Redactor, compile_patterns
from onion.probes import registry
from onion.storage import duck as store
from tests.sshd import SSHD, free_port, home_dir, keygen, start_sshd

# -- masking --------------------------------------------------------------------------

MASKED = [
    ("psql --password=hunter2 -h db", "psql --password=*** -h db"),
    ("app --password hunter2 --verbose", "app --password *** --verbose"),
    ("env PGPASSWORD=pw1 psql", "env PGPASSWORD=*** psql"),
    ("sh -c MYSQL_PWD=x", "sh -c MYSQL_PWD=***"),
    ("worker token=abc123 --x", "worker token=*** --x"),
    ("tool --api-key KEY123 run", "tool --api-key *** run"),
    ("tool --api-key=KEY123", "tool --api-key=***"),
    ("tool --client-secret=s3", "tool --client-secret=***"),
    ("mysql -uroot -pS3cret db", "mysql -uroot -p*** db"),
    ("/usr/bin/mysqldump -pS3cret --all", "/usr/bin/mysqldump -p*** --all"),
    ("curl https://bob:pw@host/x", "curl https://bob:***@host/x"),
    ("psql postgres://app:pw@db:5432/x", "psql postgres://app:***@db:5432/x"),
    ("curl https://h/x?token=abc&page=2", "curl https://h/x?token=***&page=2"),
    ("curl -H Authorization: Bearer eyJhbGciOiJIUzI1", "curl -H Authorization: Bearer ***"),
    ("java -Djavax.net.ssl.keyStorePassword=changeit -jar a.jar",
     "java -Djavax.net.ssl.keyStorePassword=*** -jar a.jar"),
    ("redis-server --requirepass foobared", "redis-server --requirepass ***"),
    ("x AWS_SECRET_ACCESS_KEY=abc", "x AWS_SECRET_ACCESS_KEY=***"),
]
UNTOUCHED = [
    "mkdir -p /var/x", "ssh -p2222 host", "sshd: root@pts/0", "/sbin/init splash",
    "ssh -o PasswordAuthentication=no h", "vault --token-file /etc/t", "mysqld --port=3306 -p",
    "[kworker/0:1H]", "python3 -m http.server 8000", "",
]


@pytest.mark.parametrize(("raw", "want"), MASKED)
def test_secret_arguments_are_masked(raw: str, want: str) -> None:
    assert DEFAULT(raw) == want


@pytest.mark.parametrize("raw", UNTOUCHED)
def test_ordinary_arguments_are_kept(raw: str) -> None:
    assert DEFAULT(raw) == raw


def test_extra_patterns_and_bad_ones() -> None:
    r = Redactor(compile_patterns([r"--vault-id[= ](\S+)", r"sk-[a-z0-9]{6,}"]))
    assert r("ansible --vault-id=dev@pw x sk-abc123def") == "ansible --vault-id=*** x ***"
    with pytest.raises(ConfigError, match="bad regex"):
        compile_patterns(["("])


def test_bad_pattern_in_the_config_file_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "onion.toml"
    f.write_text('[privacy]\nredact_patterns = ["(unclosed"]\n')
    with pytest.raises(ConfigError, match="redact_patterns"):
        load_config(f)


# -- end to end: a running process with secrets, an inventory with passwords -----------

SECRETS = ["Hunter2Secret", "KeyAbc123Secret", "PgSecret9", "TokSecret7", "UrlSecret5",
           "MySecret11"]
INVENTORY_SECRETS = ["AnsPassSecret", "BecomeSecret"]


@pytest.fixture
def secret_process():
    proc = subprocess.Popen([
        sys.executable, "-c", "import time; time.sleep(60)", "onion-test-marker",
        f"--password={SECRETS[0]}", "--api-key", SECRETS[1], f"PGPASSWORD={SECRETS[2]}",
        f"token={SECRETS[3]}", f"https://bob:{SECRETS[4]}@db.example/x", f"-p{SECRETS[5]}"])
    time.sleep(0.3)
    yield proc
    proc.kill()
    proc.wait()


def _cli(*args: str, ok: bool = True) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    return result.output


def db_text(db: Path) -> str:
    """Every row of every table (hot and main schemas) as text."""
    with duckdb.connect(str(db), read_only=True) as con:
        tables = con.execute("SELECT table_schema, table_name FROM information_schema.tables "
                             "WHERE table_type = 'BASE TABLE'").fetchall()
        return "\n".join(str(con.execute(f'SELECT * FROM "{s}"."{t}"').fetchall())
                         for s, t in tables)


def test_secrets_never_reach_storage_logs_or_report(tmp_path, monkeypatch, secret_process):
    closed = free_port("127.0.0.1")
    inv = tmp_path / "hosts.ini"
    inv.write_text(
        f"localhost ansible_connection=local ansible_password={INVENTORY_SECRETS[0]} "
        f"ansible_become_pass={INVENTORY_SECRETS[1]}\n"
        f"dead ansible_host=127.0.0.1 ansible_port={closed} ansible_user=root "
        f"ansible_password={INVENTORY_SECRETS[0]}\n")
    cfg = tmp_path / "onion.toml"
    cfg.write_text(f'inventory = "{inv}"\n[probes]\nenable = ["processes", "memory"]\n'
                   '[ssh]\nknown_hosts = []\nconfig = []\nagent = false\n')
    monkeypatch.setenv("ONION_CONFIG", str(cfg))
    db = tmp_path / "onion.duckdb"
    monkeypatch.setenv("ONION_DB", str(db))
    logs = _cli("poll", "-vv")
    assert "localhost" in logs and "unreachable" in logs
    logs += _cli("hosts")
    logs += _cli("sql", "--format", "csv",
                 "SELECT args FROM latest_processes WHERE args LIKE '%onion-test-marker%'")
    with duckdb.connect(str(db), read_only=True) as con:
        (args,) = con.execute("SELECT args FROM processes WHERE pid = ?",
                              [secret_process.pid]).fetchone()
    assert "--password=*** --api-key *** PGPASSWORD=*** token=*** https://bob:***@db" in args
    # mysql's -pSECRET is masked only after mysql/mariadb: here python3 runs, so it stays.
    assert f"-p{SECRETS[5]}" in args
    texts = {"logs": logs, "database": db_text(db)}
    if db.with_name(db.name + ".spool").is_dir():
        texts["spool"] = "".join(p.read_text(errors="replace") for p in
                                 db.with_name(db.name + ".spool").rglob("*") if p.is_file())
    out = tmp_path / "report"

    def check() -> None:
        for where, text in texts.items():
            for secret in SECRETS[:5] + INVENTORY_SECRETS:
                assert secret not in text, (secret, where)

    check()
    texts["report logs"] = _cli("report", "--out", str(out))
    texts["report"] = "".join(p.read_text(errors="replace") for p in out.rglob("*")
                              if p.is_file())
    check()


def test_masking_can_be_turned_off(tmp_path, secret_process):
    cfg = load_config(None, str(tmp_path / "onion.duckdb"))
    cfg.privacy.redact_args = False
    run_poll(cfg, [LOCALHOST], registry.select(registry.installed(), ["processes"]))
    with duckdb.connect(str(cfg.db_path), read_only=True) as con:
        (args,) = con.execute("SELECT args FROM processes WHERE pid = ?",
                              [secret_process.pid]).fetchone()
    assert f"--password={SECRETS[0]}" in args
    cfg = load_config(None, str(tmp_path / "two.duckdb"))
    cfg.privacy.redact_patterns = [r"onion-test-(\w+)"]
    run_poll(cfg, [LOCALHOST], registry.select(registry.installed(), ["processes"]))
    with duckdb.connect(str(cfg.db_path), read_only=True) as con:
        (args,) = con.execute("SELECT args FROM processes WHERE pid = ?",
                              [secret_process.pid]).fetchone()
    assert "onion-test-*** --password=***" in args


# -- file modes -----------------------------------------------------------------------


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_database_spool_wal_and_lock_are_private(tmp_path, monkeypatch):
    old = os.umask(0o022)  # a permissive umask, as under many cron setups
    try:
        cfg = load_config(None, str(tmp_path / "onion.duckdb"))
        probes = registry.select(registry.installed(), ["processes", "memory"])
        # The WAL exists while the run's connection is open: look at it just before close.
        wal_modes: list[int] = []
        real_connect = store.connect

        class Peek:
            def __init__(self, con: duckdb.DuckDBPyConnection, path: Path) -> None:
                self._con, self._wal = con, Path(str(path) + ".wal")

            def __getattr__(self, name: str):
                return getattr(self._con, name)

            def close(self) -> None:
                if self._wal.exists():
                    wal_modes.append(_mode(self._wal))
                self._con.close()

        def peeking(path: Path, read_only: bool = False):
            con = real_connect(path, read_only)
            return con if read_only else Peek(con, path)

        monkeypatch.setattr(store, "connect", peeking)
        run_poll(cfg, [LOCALHOST], probes)
        monkeypatch.undo()
        db = cfg.db_path
        assert _mode(db) == 0o600
        assert _mode(db.with_name(db.name + ".lock")) == 0o600
        print(f"\nWAL files seen before close: {[oct(m) for m in wal_modes]}")
        assert all(m == 0o600 for m in wal_modes)
        # A locked database: the batch waits in the spool, private too.
        holder = subprocess.Popen([sys.executable, "-c",
                                   "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
                                   "print('ready', flush=True); time.sleep(30)", str(db)],
                                  stdout=subprocess.PIPE, text=True)
        try:
            assert holder.stdout.readline().strip() == "ready"
            summary = run_poll(cfg, [LOCALHOST], probes)
            assert not summary.stored and summary.delivery.queued_for == ["duckdb"]
        finally:
            holder.kill()
            holder.wait()
        spool = cfg.spool_path
        entries = list(spool.rglob("*"))
        assert entries
        assert _mode(spool) == 0o700
        for p in entries:
            assert _mode(p) == (0o700 if p.is_dir() else 0o600), p
        assert _mode(db) == 0o600
    finally:
        os.umask(old)


# -- injection ------------------------------------------------------------------------


def payloads(d: Path, marker: Path) -> list[str]:
    m = str(marker)
    return [
        f"{d}/a b; touch {m}",
        f"{d}/$(touch {m})",
        f"{d}/`touch {m}`",
        f"{d}/x\ntouch {m}\n",
        f"{d}/'; touch {m}; '",
        f'{d}/"; touch {m}; "',
        f"{d}/$(touch {m}) 'q\" ;\nreal.conf",   # this one exists
        f"{d}/-n \\$(touch {m}) | touch {m} & touch {m} > {m}",
    ]


@pytest.fixture(scope="module")
def sshd_host(tmp_path_factory):
    if not Path(SSHD).exists():
        pytest.skip("OpenSSH sshd is not installed")
    root = tmp_path_factory.mktemp("inject")
    key = keygen(root / "id_user")
    server = start_sshd(root / "sshd", "127.0.0.2", [key], home_dir(root))
    known = root / "known_hosts"
    known.write_text(server.known_hosts_line())
    yield server, key, known
    server.stop()


def test_hostile_watched_paths_and_names_never_run(tmp_path, sshd_host):
    server, key, known = sshd_host
    marker = tmp_path / "pwned"
    d = tmp_path / "w"
    d.mkdir()
    paths = payloads(d, marker)
    Path(paths[6]).parent.mkdir(parents=True)   # its name holds a '/' or two
    Path(paths[6]).write_text("watched\n")
    cfg = load_config(None, str(tmp_path / "onion.duckdb"))
    cfg.ssh.known_hosts = [str(known)]
    cfg.ssh.config = []
    cfg.ssh.agent = False
    cfg.files.watch = paths[:4]                     # from the config ...
    hv = {"watch_files": paths[4:]}                 # ... and from a host variable
    evil = f"node; touch {marker} $(touch {marker}) `touch {marker}` '\""
    hosts = [
        Host(name="localhost", local=True, vars=hv),
        Host(name="remote", address=server.addr, port=server.port, user="root",
             key_files=(str(key),), vars=hv),
        # A hostile inventory name is only a label: it is polled and stored as it is.
        Host(name=evil, address=server.addr, port=server.port, user="root",
             key_files=(str(key),), vars=hv),
        # A hostile address is a name to resolve, never a shell word.
        Host(name="evil-address", address=f"$(touch {marker})", port=server.port,
             user="root", key_files=(str(key),)),
    ]
    probes = registry.select(registry.installed(), ["files", "memory"])
    r = {x.host.name: x for x in run_poll(cfg, hosts, probes).results}
    assert not marker.exists()
    assert r["localhost"].status == "ok" and r["remote"].status == "ok"
    assert r[evil].status == "ok"
    assert r["evil-address"].status == "unreachable"
    with duckdb.connect(str(cfg.db_path), read_only=True) as con:
        for host in ("localhost", "remote", evil):
            got = dict(con.execute("SELECT path, exists FROM files WHERE host = ?",
                                   [host]).fetchall())
            assert got == {p: p == paths[6] for p in paths}, host
        sha = con.execute("SELECT DISTINCT sha256 FROM files WHERE exists").fetchall()
        assert sha == [(hashlib.sha256(b"watched\n").hexdigest(),)]
        names = {h for (h,) in con.execute("SELECT host FROM polls").fetchall()}
    assert evil in names


@pytest.mark.parametrize("user", [
    "root; touch {m}", "$(touch {m})", "`touch {m}`", "root\ntouch {m}", "a b'c\"d",
    "-oProxyCommand=touch {m}"])
def test_hostile_user_name_fails_cleanly_and_runs_nothing(tmp_path, sshd_host, user):
    server, key, known = sshd_host
    marker = tmp_path / "pwned"
    cfg = load_config(None, str(tmp_path / "onion.duckdb"))
    cfg.ssh.known_hosts = [str(known)]
    cfg.ssh.config = []
    cfg.ssh.agent = False
    cfg.poller.connect_timeout = 5
    h = Host(name="h", address=server.addr, port=server.port, user=user.format(m=marker),
             key_files=(str(key),))
    r = run_poll(cfg, [h], registry.select(registry.installed(), ["memory"])).results[0]
    print(f"\nuser {h.user!r}: {r.status}: {r.reason}")
    assert r.status in ("auth_refused", "unreachable")
    assert r.reason
    assert not marker.exists()
    with duckdb.connect(str(cfg.db_path), read_only=True) as con:
        assert con.execute("SELECT status FROM polls").fetchall() == [(r.status,)]
        assert con.execute("SELECT count(*) FROM memory").fetchone()[0] == 0


def test_folders_onion_makes_are_0700_and_the_config_0600(tmp_path, monkeypatch):
    """Under a permissive umask, every folder Onion creates (the database's, the queue's,
    each level of the archive, a jsonl sink's) is 0700 and `onion init` writes 0600."""
    import datetime as dt

    from click.testing import CliRunner

    from onion.cli.main import main
    from onion.storage import archive
    from onion.storage.jsonl import JSONLinesSink
    from onion.storage.queue import Queue
    from tests.synthetic import history

    old = os.umask(0o022)
    try:
        data = tmp_path / "home" / "share" / "onion"
        cfg_file = tmp_path / "home" / "config" / "onion" / "onion.toml"
        res = CliRunner().invoke(main, ["init", str(cfg_file)])
        assert res.exit_code == 0, res.output
        assert _mode(cfg_file) == 0o600
        assert _mode(cfg_file.parent) == 0o700 and _mode(cfg_file.parent.parent) == 0o700

        cfg = load_config(None, str(data / "onion.duckdb"))
        run_poll(cfg, [LOCALHOST], registry.select(registry.installed(), ["memory"]))
        assert _mode(data) == 0o700 and _mode(data.parent) == 0o700

        db, arch = tmp_path / "h" / "o.duckdb", tmp_path / "h" / "deep" / "archive"
        history(db, tmp_path / "spool", dt.datetime(2026, 1, 1), days=2)
        archive.maintain(db, arch, archive.Retention(hot_days=1, raw_days=0, days_5m=0,
                         days_1h=0), dt.datetime(2026, 1, 2, 12))
        folders = [p for p in arch.rglob("*") if p.is_dir()]
        assert folders and all(_mode(p) == 0o700 for p in [arch, arch.parent, *folders])

        Queue(tmp_path / "q" / "spool").put(_tiny_batch(), ["x"])
        assert _mode(tmp_path / "q") == 0o700 and _mode(tmp_path / "q" / "spool") == 0o700
        sink = JSONLinesSink("t", tmp_path / "j" / "out")
        sink.write(_tiny_batch())
        sink.close()
        assert all(_mode(p) == 0o700 for p in [tmp_path / "j", *(tmp_path / "j").rglob("*")]
                   if p.is_dir())
        assert all(_mode(p) == 0o600 for p in (tmp_path / "j").rglob("*") if p.is_file())
    finally:
        os.umask(old)


def _tiny_batch():
    from onion.storage.batch import Batch
    from onion.storage.schema import CORE

    data = {"runs": {c: [None] for c in CORE["runs"].names}}
    data["runs"]["run_id"] = [7]
    return Batch(7, dict(CORE), data)
