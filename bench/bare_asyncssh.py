"""The floor: connect to every host at once with asyncssh, run a script, read everything.

Nothing is parsed or stored. Same host key checks (one known_hosts file) and the same
user key as Onion gets. The script is sent on stdin to ``/bin/sh -s``.

    python3 bench/bare_asyncssh.py --hosts FILE --known-hosts KH --key KEY --script FILE
      [--done MARKER] [--concurrency N] [--duckdb PATH --tables N]

``--hosts`` has one ``address port`` per line. Prints ``ok K/N bytes B`` and, for a
host that failed, its first error on stderr; exit status 0 when every host succeeded.

With ``--duckdb``, the floor of storing the round too: after the SSH round it imports
duckdb, opens PATH, creates (if need be) ``--tables`` tables, INSERTs one row per host
into each (host, time, bytes received) and closes the connection, which checkpoints as
``onion poll``'s close does.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
from pathlib import Path

import asyncssh


async def _one(addr: str, port: int, kw: dict[str, object], script: bytes, done: bytes,
               sem: asyncio.Semaphore, timeout: float) -> tuple[int, str | None]:
    async with sem:
        try:
            async with asyncio.timeout(timeout):
                async with asyncssh.connect(addr, port, **kw) as conn:
                    res = await conn.run("/bin/sh -s", input=script, encoding=None)
        except (OSError, asyncssh.Error, TimeoutError) as exc:
            return 0, f"{addr}:{port}: {type(exc).__name__}: {exc}"
    out = res.stdout if isinstance(res.stdout, bytes) else b""
    err = res.stderr if isinstance(res.stderr, bytes) else b""
    if done and done not in out:
        return len(out) + len(err), f"{addr}:{port}: no end marker (exit {res.exit_status})"
    return len(out) + len(err), None


def store(path: str, tables: int, rows: list[tuple[str, int]]) -> None:
    """The least a poll's storing can cost with DuckDB: import, open, one INSERT into each
    table, close. Imported here, after the round, as only this part needs it."""
    import duckdb

    ts = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    values = ", ".join(["(?, ?, ?)"] * len(rows))
    params = [v for host, n in rows for v in (host, ts, n)]
    con = duckdb.connect(path)
    try:
        for i in range(tables):
            con.execute(f"CREATE TABLE IF NOT EXISTS t{i} "
                        "(host VARCHAR, ts TIMESTAMP, bytes BIGINT)")
            if rows:
                con.execute(f"INSERT INTO t{i} VALUES {values}", params)
    finally:
        con.close()


async def main_async(args: argparse.Namespace) -> int:
    hosts = []
    for line in Path(args.hosts).read_text().splitlines():
        if line.strip():
            addr, port = line.split()
            hosts.append((addr, int(port)))
    script = Path(args.script).read_bytes()
    kw: dict[str, object] = {
        "username": args.user,
        "known_hosts": asyncssh.read_known_hosts(args.known_hosts),
        "client_keys": [asyncssh.read_private_key(args.key)],
        "agent_path": None,
        "config": None,
        "connect_timeout": args.timeout,
    }
    if args.encryption:
        kw["encryption_algs"] = args.encryption.split(",")
    sem = asyncio.Semaphore(args.concurrency or len(hosts) or 1)
    results = await asyncio.gather(*(
        _one(a, p, kw, script, args.done.encode(), sem, args.timeout) for a, p in hosts))
    errors = [e for _, e in results if e]
    total = sum(n for n, _ in results)
    if args.duckdb:
        store(args.duckdb, args.tables, [(f"{a}:{p}", n) for (a, p), (n, _) in
                                         zip(hosts, results, strict=True)])
    print(f"ok {len(hosts) - len(errors)}/{len(hosts)} bytes {total}")
    for e in errors[:5]:
        print(e, file=sys.stderr)
    return 0 if not errors else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hosts", required=True)
    ap.add_argument("--known-hosts", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--script", required=True)
    ap.add_argument("--user", default="root")
    ap.add_argument("--done", default="", help="bytes every host's stdout must contain")
    ap.add_argument("--concurrency", type=int, default=0, help="0: all hosts at once")
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--encryption", default="",
                    help="comma list of ciphers to offer (default: asyncssh's order)")
    ap.add_argument("--duckdb", default="", metavar="PATH",
                    help="then store one row per host in each of --tables tables there")
    ap.add_argument("--tables", type=int, default=1, help="tables for --duckdb")
    return asyncio.run(main_async(ap.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
