"""A real PostgreSQL server for the tests: Debian's ``postgresql`` package, a cluster in a
temp folder, on loopback, with a password user; stopped at the end.

PostgreSQL refuses to run as root, and the tests may run as root (CI): then the cluster
belongs to the ``postgres`` user the package makes, in a folder of its own under /tmp.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.sshd import free_port


def bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@dataclass
class PGServer:
    folder: Path
    port: int
    user: str
    password: str
    owner: str | None     # the OS user it runs as when the tests are root

    def dsn(self, db: str = "postgres", port: int | None = None) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{port or self.port}/{db}"

    def _as_owner(self, args: list[str]) -> list[str]:
        return ["runuser", "-u", self.owner, "--", *args] if self.owner else args

    def stop(self) -> None:
        b = bin_dir()
        if b is not None:
            subprocess.run(self._as_owner([str(b / "pg_ctl"), "-D", str(self.folder / "data"),
                                           "-m", "immediate", "-w", "stop"]),
                           capture_output=True, timeout=60)
        shutil.rmtree(self.folder, ignore_errors=True)


def start() -> PGServer:
    b = bin_dir()
    if b is None:
        raise FileNotFoundError("PostgreSQL's initdb is not installed (Debian: postgresql)")
    owner = None
    if os.geteuid() == 0:
        owner = "postgres"
        pwd.getpwnam(owner)  # KeyError: no such user
    folder = Path(tempfile.mkdtemp(prefix="onion-pg-"))
    folder.chmod(0o755)
    password = secrets.token_hex(16)
    pwfile = folder / "pw"
    pwfile.write_text(password + "\n")
    server = PGServer(folder, free_port(), "onion", password, owner)
    if owner:
        info = pwd.getpwnam(owner)
        os.chown(folder, info.pw_uid, info.pw_gid)
        os.chown(pwfile, info.pw_uid, info.pw_gid)
    run = server._as_owner
    subprocess.run(run([str(b / "initdb"), "-D", str(folder / "data"), "-U", server.user,
                        "--auth=scram-sha-256", f"--pwfile={pwfile}", "-E", "UTF8",
                        "--no-sync", "--locale=C"]),
                   check=True, capture_output=True, timeout=120)
    opts = (f"-c listen_addresses=127.0.0.1 -p {server.port} -k {folder} -c fsync=off "
            "-c full_page_writes=off -c synchronous_commit=off")
    res = subprocess.run(run([str(b / "pg_ctl"), "-D", str(folder / "data"), "-o", opts, "-l",
                              str(folder / "log"), "-w", "-t", "60", "start"]),
                         capture_output=True, text=True, timeout=90)
    if res.returncode != 0:
        log = (folder / "log").read_text()[-2000:] if (folder / "log").exists() else ""
        shutil.rmtree(folder, ignore_errors=True)
        raise RuntimeError(f"PostgreSQL did not start: {res.stderr} {log}")
    deadline = time.monotonic() + 30
    import psycopg

    while True:
        try:
            psycopg.connect(server.dsn(), password=password, connect_timeout=5).close()
            return server
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                server.stop()
                raise
            time.sleep(0.2)
