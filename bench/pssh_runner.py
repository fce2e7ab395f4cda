"""parallel-ssh (``pssh``, libssh2 based) running one script on every host.

    python3 bench/pssh_runner.py --hosts FILE --key KEY --script FILE [--done MARKER]
      [--concurrency N]

``--hosts`` has one ``address port`` per line. The script runs as ``sh -c '<script>'``
(pssh's ``run_command`` has no stdin EOF). pssh's native client does not verify host
keys. Prints ``ok K/N bytes B``; exit status 0 when every host succeeded.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hosts", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--script", required=True)
    ap.add_argument("--user", default="root")
    ap.add_argument("--done", default="")
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--concurrency", type=int, default=0, help="0: all hosts at once")
    args = ap.parse_args()

    from pssh.clients import ParallelSSHClient
    from pssh.config import HostConfig

    hosts: list[str] = []
    configs: list[HostConfig] = []
    for line in Path(args.hosts).read_text().splitlines():
        if line.strip():
            addr, port = line.split()
            hosts.append(addr)
            configs.append(HostConfig(port=int(port), user=args.user,
                                      private_key=args.key, allow_agent=False))
    command = "sh -c " + shlex.quote(Path(args.script).read_text())
    client = ParallelSSHClient(hosts, host_config=configs,
                               pool_size=args.concurrency or len(hosts) or 1, num_retries=1,
                               timeout=args.timeout, allow_agent=False)
    output = client.run_command(command, stop_on_errors=False)
    client.join(output, timeout=args.timeout)
    ok, total, errors = 0, 0, []
    for host_out in output:
        if host_out.exception is not None:
            errors.append(f"{host_out.host}: {type(host_out.exception).__name__}: "
                          f"{host_out.exception}")
            continue
        text = "\n".join(host_out.stdout or ())
        err = "\n".join(host_out.stderr or ())
        total += len(text) + len(err)
        if args.done and args.done not in text:
            errors.append(f"{host_out.host}: no end marker (exit {host_out.exit_code})")
        else:
            ok += 1
    print(f"ok {ok}/{len(hosts)} bytes {total}")
    for e in errors[:5]:
        print(e, file=sys.stderr)
    return 0 if not errors else 1


if __name__ == "__main__":
    sys.exit(main())
