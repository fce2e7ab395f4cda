"""A real MariaDB server for the tests: Debian's ``mariadb-server`` package, run from a
temp folder on loopback as the current user, with real grants (a user with a password,
its own databases); stopped, and its folder removed, at the end.

    server = start()
    server.create_database("t1")         # owned by server.user
    ... mysql://onion@127.0.0.1:PORT/t1 with server.password ...
    server.stop()

Root (the CI runs as root) runs it with ``--user=root``; ``root@localhost`` has no
password and reaches it over the unix socket only (:meth:`MariaDB.admin`). With openssl
there, the server also speaks TLS with a certificate for 127.0.0.1 from a CA of its own
(``tls_ca``).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.sshd import free_port

SERVERS = ("mariadbd", "mysqld")
INSTALLERS = ("mariadb-install-db", "mysql_install_db")
SBIN = ("/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin")


def _find(names: tuple[str, ...]) -> str | None:
    for name in names:
        found = shutil.which(name) or next(
            (f"{d}/{name}" for d in SBIN if os.access(f"{d}/{name}", os.X_OK)), None)
        if found:
            return found
    return None


def available(wait: float = 0.0) -> str | None:
    """The path of mariadbd when it and its installer are there, else None; ``wait``
    seconds to give an apt install under way the time to finish."""
    deadline = time.monotonic() + wait
    while True:
        server, installer = _find(SERVERS), _find(INSTALLERS)
        if server and installer:
            return server
        if time.monotonic() >= deadline:
            return None
        time.sleep(2)


def missing() -> str | None:
    """Why no server can be started here (for a skip, or a failure on CI), or None."""
    try:
        import pymysql  # noqa: F401
    except ImportError:
        return "PyMySQL is not installed (pip install 'onion-poller[mysql]')"
    if available() is None:
        return "MariaDB is not installed (Debian: apt-get install mariadb-server)"
    return None


def _die_with_parent() -> None:
    # A test run that is killed outright must not leave a server behind.
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)   # PR_SET_PDEATHSIG


@dataclass
class MariaDB:
    root: Path
    port: int
    password: str = field(repr=False)
    user: str = "onion"
    database: str = "onion"
    host: str = "127.0.0.1"
    tls_ca: Path | None = None
    proc: subprocess.Popen | None = None

    @property
    def socket(self) -> Path:
        return self.root / "sock"

    @property
    def log(self) -> Path:
        return self.root / "error.log"

    def dsn(self, database: str | None = None, port: int | None = None,
            scheme: str = "mysql") -> str:
        return f"{scheme}://{self.user}@{self.host}:{port or self.port}/{database or self.database}"

    def admin(self, database: str | None = None) -> Any:
        """A connection as root over the socket (autocommit)."""
        import pymysql
        return pymysql.connect(unix_socket=str(self.socket), user="root", database=database,
                               charset="utf8mb4", autocommit=True, connect_timeout=5)

    def sql(self, *statements: str, database: str | None = None) -> list[tuple]:
        """Run statements as root; the last one's rows."""
        con = self.admin(database)
        try:
            with con.cursor() as cur:
                rows: list[tuple] = []
                for s in statements:
                    cur.execute(s)
                    rows = list(cur.fetchall())
                return rows
        finally:
            con.close()

    def create_database(self, name: str) -> str:
        """A database (if not there yet) that the test user may do anything in."""
        q = "`" + name.replace("`", "``") + "`"
        self.sql(f"CREATE DATABASE IF NOT EXISTS {q} CHARACTER SET utf8mb4 "
                 "COLLATE utf8mb4_bin",
                 *(f"GRANT ALL PRIVILEGES ON {q}.* TO '{self.user}'@'{h}'"
                   for h in ("127.0.0.1", "localhost")))
        return name

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no error log)"

    def stop(self, remove: bool = True) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()            # SIGTERM: a clean shutdown
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if remove:
            shutil.rmtree(self.root, ignore_errors=True)


def _tls(folder: Path) -> list[str]:
    """A CA and a server certificate for 127.0.0.1/localhost; [] without openssl."""
    openssl = shutil.which("openssl")
    if not openssl:
        return []
    folder.mkdir()
    ca, ca_key = folder / "ca.pem", folder / "ca.key"
    key, csr, cert = folder / "server.key", folder / "server.csr", folder / "server.pem"
    ext = folder / "ext.cnf"
    ext.write_text("subjectAltName = IP:127.0.0.1, DNS:localhost\n"
                   "basicConstraints = CA:FALSE\nkeyUsage = digitalSignature, keyEncipherment\n"
                   "extendedKeyUsage = serverAuth\n")
    run = [
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=onion test CA", "-keyout", str(ca_key), "-out", str(ca)],
        [openssl, "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
         "-keyout", str(key), "-out", str(csr)],
        [openssl, "x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
         "-CAcreateserial", "-days", "2", "-extfile", str(ext), "-out", str(cert)],
    ]
    for args in run:
        if subprocess.run(args, capture_output=True, timeout=60).returncode != 0:
            return []
    return [f"--ssl-ca={ca}", f"--ssl-cert={cert}", f"--ssl-key={key}"]


def start(timeout: float = 60.0, tls: bool = True) -> MariaDB:
    """A fresh server, accepting connections, with the test user and its database."""
    server_bin, installer = _find(SERVERS), _find(INSTALLERS)
    if not server_bin or not installer:
        raise FileNotFoundError("MariaDB is not installed (Debian: apt-get install "
                                "mariadb-server)")
    # A short folder: the socket's path must fit in 107 bytes.
    root = Path(tempfile.mkdtemp(prefix="onion-mariadb-", dir="/tmp"))
    data = root / "data"
    as_root = ["--user=root"] if os.geteuid() == 0 else []
    server = MariaDB(root, free_port(), secrets.token_urlsafe(18))
    try:
        done = subprocess.run(
            [installer, "--no-defaults", f"--datadir={data}",
             "--auth-root-authentication-method=normal", "--skip-test-db",
             "--skip-name-resolve", *as_root],
            capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{installer} failed ({done.returncode}):\n"
                               f"{(done.stdout + done.stderr)[-3000:]}")
        ssl = _tls(root / "tls") if tls else []
        if ssl:
            server.tls_ca = root / "tls" / "ca.pem"
        out = (root / "stdout.log").open("wb")
        server.proc = subprocess.Popen(
            [server_bin, "--no-defaults", f"--datadir={data}", f"--socket={server.socket}",
             f"--port={server.port}", "--bind-address=127.0.0.1",
             f"--pid-file={root / 'mariadbd.pid'}", f"--log-error={server.log}",
             f"--tmpdir={root}", "--skip-name-resolve", "--skip-log-bin",
             "--innodb-buffer-pool-size=64M", *ssl, *as_root],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent)
        out.close()
        _wait(server, timeout)
        pw = server.password
        server.sql(*(f"CREATE USER '{server.user}'@'{h}' IDENTIFIED BY '{pw}'"
                     for h in ("127.0.0.1", "localhost")))
        server.create_database(server.database)
    except BaseException:
        server.stop(remove=False)
        shutil.rmtree(root / "data", ignore_errors=True)   # keep the logs to read
        raise
    return server


def _wait(server: MariaDB, timeout: float) -> None:
    import pymysql
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        assert server.proc is not None
        if server.proc.poll() is not None:
            raise RuntimeError(f"mariadbd exited ({server.proc.returncode}) in {server.root}:"
                               f"\n{server.log_tail()}")
        if server.socket.exists():
            try:
                server.admin().close()
                return
            except pymysql.Error as exc:
                last = exc
        time.sleep(0.1)
    raise RuntimeError(f"mariadbd did not accept connections in {timeout:g}s ({last}) "
                       f"in {server.root}:\n{server.log_tail()}")
