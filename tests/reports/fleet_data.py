"""A synthetic fleet's history, generated in SQL straight into Onion's schema (fast).

Used by the report tests (a few hosts, a day or two) and by ``bench/report.py``
(200 hosts × 7 days of 5-minute polls). Rows go into the same tables a poll fills
(``hot.<probe>``, ``polls``, ``probe_results``, ``hosts``), created by the store itself.
Some hosts misbehave on purpose: one in fifty is down for the last two hours, polls fail
now and then, a few file systems fill up, a module appears, a host reboots.
"""

from __future__ import annotations

import datetime as dt
import re

import duckdb

from onion.probes.registry import installed
from onion.storage import duck as store
from onion.storage import schema

PROBES = ("cpu", "memory", "filesystems", "network", "disk_io", "temperatures", "gpu",
          "system", "modules", "processes", "files")


def _x(con: duckdb.DuckDBPyConnection, sql: str, params: dict | None = None) -> None:
    """Execute with just the named parameters the statement uses (DuckDB wants exactly)."""
    used = {k: v for k, v in (params or {}).items() if re.search(rf"\${k}\b", sql)}
    con.execute(sql, used)


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    store.ensure_schema(con, schema.tables_for(installed().values()))


def generate(con: duckdb.DuckDBPyConnection, hosts: int, days: float, end: dt.datetime,
             step_s: int = 300, prefix: str = "node", process_hours: float = 24) -> int:
    """Write the fleet's polls; returns how many host polls that is."""
    ensure_schema(con)
    start = end - dt.timedelta(days=days)
    p = {"hosts": hosts, "start": start, "end": end, "step": step_s, "prefix": prefix,
         "pstart": end - dt.timedelta(hours=process_hours)}
    _x(con, """
        CREATE OR REPLACE TEMP TABLE g AS
        SELECT h, $prefix || lpad(h::VARCHAR, 3, '0') AS host, t AS ts,
               row_number() OVER (PARTITION BY h ORDER BY t) AS n,
               epoch_us(t)::UBIGINT AS run_id,
               CASE WHEN (h % 50 = 7 AND t > $end::TIMESTAMP - INTERVAL 2 HOUR)
                      OR hash(h, t) % 701 = 0 THEN 'unreachable' ELSE 'ok' END AS status
        FROM range($hosts) r(h),
             generate_series($start::TIMESTAMP, $end::TIMESTAMP, to_seconds($step)) s(t)
        ORDER BY t, h  -- as polls arrive: run after run, so a host's rows are spread out
        """, p)
    _x(con, """
        INSERT INTO runs (run_id, started_at, finished_at, wall_s, hosts, hosts_ok, version)
        SELECT run_id, ts, ts + INTERVAL 2 SECOND, 2.0, count(*), count(*) FILTER (status = 'ok'),
               'synthetic' FROM g GROUP BY run_id, ts""", p)
    _x(con, """
        INSERT INTO hot.polls (run_id, host, ts, status, reason, os, connect_s, command_s,
                               bytes_read)
        SELECT run_id, host, ts, status,
               CASE WHEN status <> 'ok' THEN 'connect to ' || host || ':22: no route to host' END,
               'linux', 0.05 + (hash(h, ts, 1) % 100) / 1000, 0.3 + (hash(h, ts, 2) % 300) / 1000,
               CASE WHEN status = 'ok' THEN 60000 ELSE 0 END FROM g""", p)
    _x(con, """
        INSERT INTO hosts (host, address, port, groups, os, first_seen, last_seen, last_ok,
                           last_status, last_reason)
        SELECT host, host || '.cluster', 22,
               ['rack' || (h // 20)::VARCHAR] || CASE WHEN h % 4 = 0 THEN ['gpu'] ELSE [] END,
               'linux', min(ts), max(ts), max(ts) FILTER (status = 'ok'), arg_max(status, ts),
               CASE WHEN arg_max(status, ts) <> 'ok' THEN 'no route to host' END
        FROM g GROUP BY h, host
        ON CONFLICT (host) DO UPDATE SET last_seen = excluded.last_seen,
          last_status = excluded.last_status, last_reason = excluded.last_reason""", p)
    con.execute("CREATE OR REPLACE TEMP TABLE ok AS "
                "SELECT * FROM g WHERE status = 'ok' ORDER BY ts, h")
    _samples(con, p)
    return int(con.execute("SELECT count(*) FROM g").fetchone()[0])


def _samples(con: duckdb.DuckDBPyConnection, p: dict) -> None:
    step = p["step"]
    _x(con, f"""
        INSERT INTO hot.probe_results (run_id, host, ts, probe, status, reason, records)
        SELECT run_id, host, ts, probe,
               CASE WHEN probe = 'gpu' AND h % 4 <> 0 THEN 'unavailable' ELSE 'ok' END,
               CASE WHEN probe = 'gpu' AND h % 4 <> 0 THEN 'nvidia-smi not found' END, 1
        FROM ok, unnest({list(PROBES)}) u(probe)""", p)
    _x(con, f"""
        INSERT INTO hot.cpu (run_id, host, ts, ncpu, load_1m, load_5m, load_15m, user_seconds,
            nice_seconds, system_seconds, idle_seconds, iowait_seconds, irq_seconds,
            softirq_seconds, steal_seconds)
        SELECT run_id, host, ts, 32, l, l * 0.95, l * 0.9,
               sum(32 * {step} * u) OVER w, 0, sum(32 * {step} * 0.05) OVER w,
               sum(32 * {step} * (0.93 - u)) OVER w, sum(32 * {step} * 0.02) OVER w, 0, 0, 0
        FROM (SELECT *, 8 + 6 * sin(n / 40 + h) + (h % 13 = 3)::INT * 60 AS l,
                     0.3 + 0.25 * sin(n / 30 + h) AS u FROM ok)
        WINDOW w AS (PARTITION BY h ORDER BY ts)""", p)
    _x(con, """
        INSERT INTO hot.memory (run_id, host, ts, total_bytes, available_bytes, used_bytes,
                                free_bytes, swap_total_bytes, swap_used_bytes)
        SELECT run_id, host, ts, 274877906944, a, 274877906944 - a, a // 2,
               8589934592, (h % 9) * 104857600
        FROM (SELECT *, (274877906944 * (0.5 + 0.3 * sin(n / 50 + h)))::UBIGINT AS a FROM ok)""", p)
    _x(con, """
        INSERT INTO hot.filesystems (run_id, host, ts, mount, device, fstype, size_bytes,
            used_bytes, avail_bytes, used_pct, inodes_total, inodes_used, inodes_free)
        SELECT run_id, host, ts, m, '/dev/' || replace(m, '/', 'd'), 'ext4', 1e12,
               pct * 1e10, (100 - pct) * 1e10, pct, 1000000, pct * 5000, 1000000 - pct * 5000
        FROM (SELECT *, least(99, (20 + i * 15 + (h % 7) * 3 + n / 200
                   + (h % 17 = 5)::INT * 40)::FLOAT) AS pct
              FROM ok, unnest(['/', '/home', '/scratch', '/var']) WITH ORDINALITY u(m, i))""", p)
    _x(con, f"""
        INSERT INTO hot.network (run_id, host, ts, interface, up, rx_bytes, rx_packets,
            tx_bytes, tx_packets)
        SELECT run_id, host, ts, i, true,
               (n * {step} * r + r * {step} * 5 * sin(n / 20))::UBIGINT, n * 1000,
               (n * {step} * r / 3 + r * {step} * sin(n / 15))::UBIGINT, n * 800
        FROM (SELECT *, 1e6 * (1 + h % 5) * (CASE i WHEN 'ib0' THEN 50 ELSE 1 END) AS r
              FROM ok, unnest(['eth0', 'ib0']) u(i))""", p)
    _x(con, f"""
        INSERT INTO hot.disk_io (run_id, host, ts, device, reads_completed, read_bytes,
            writes_completed, written_bytes, io_time_ms)
        SELECT run_id, host, ts, d, n * 100,
               (n * {step} * r + r * {step} * 5 * sin(n / 25))::UBIGINT,
               n * 200, (n * {step} * r * 2)::UBIGINT, n * 1000
        FROM (SELECT *, 2e6 * (1 + h % 3) AS r FROM ok, unnest(['nvme0n1', 'sda']) u(d))""", p)
    _x(con, """
        INSERT INTO hot.temperatures (run_id, host, ts, chip, sensor, celsius, high_celsius,
                                      crit_celsius)
        SELECT run_id, host, ts, u.c, u.s, 45 + 15 * sin(n / 40 + h) + u.k * 3, 85, 100
        FROM ok, (VALUES ('coretemp-isa-0000', 'Package id 0', 1),
                         ('coretemp-isa-0000', 'Core 0', 2),
                         ('nvme-pci-0100', 'Composite', 3)) u(c, s, k)""", p)
    _x(con, """
        INSERT INTO hot.gpu (run_id, host, ts, "index", uuid, name, utilization_pct,
            memory_utilization_pct, memory_used_bytes, memory_total_bytes, temperature_celsius,
            power_draw_watts, power_limit_watts)
        SELECT run_id, host, ts, g, 'GPU-' || host || '-' || g, 'NVIDIA H100 80GB HBM3',
               u, u / 2, (u * 8.5e8)::UBIGINT, 85899345920, 40 + u / 2, 100 + u * 5, 700
        FROM (SELECT *, 50 + 45 * sin(n / 30 + g + h) AS u
              FROM ok, range(4) r(g) WHERE h % 4 = 0)""", p)
    _x(con, """
        INSERT INTO hot.system (run_id, host, ts, os, kernel_name, kernel_release, machine,
            hostname, distro_id, distro_name, distro_version, boot_time, uptime_seconds)
        SELECT run_id, host, ts, 'linux', 'Linux', '6.1.0-28-amd64', 'x86_64', host, 'debian',
               'Debian GNU/Linux', '12', b, epoch(ts) - epoch(b)
        FROM (SELECT *, CASE WHEN h % 25 = 2 AND ts > $end::TIMESTAMP - INTERVAL 1 DAY
                        THEN $end::TIMESTAMP - INTERVAL 1 DAY
                        ELSE $start::TIMESTAMP - INTERVAL 30 DAY END AS b FROM ok)""",
                {"start": p["start"], "end": p["end"]})
    _x(con, """
        INSERT INTO hot.modules (run_id, host, ts, name, size_bytes, use_count, state)
        SELECT run_id, host, ts, 'mod_' || m, 16384 * (m + 1), m % 3, 'Live'
        FROM ok, range(20) r(m)
        WHERE m < 19 OR (h % 10 = 1 AND ts > $end::TIMESTAMP - INTERVAL 3 HOUR)""",
                {"end": p["end"]})
    _x(con, """
        INSERT INTO hot.files (run_id, host, ts, path, exists, type, size_bytes, mode, uid,
                               gid, sha256)
        SELECT run_id, host, ts, f, true, 'regular', 1000, '0644', 0, 0,
               CASE WHEN f = '/etc/passwd' AND h % 10 = 3 AND ts > $end::TIMESTAMP
                    - INTERVAL 5 HOUR THEN 'bb' ELSE 'aa' END || repeat('0', 62)
        FROM ok, unnest(['/etc/passwd', '/etc/ssh/sshd_config', '/etc/fstab']) u(f)""",
                {"end": p["end"]})
    _x(con, """
        INSERT INTO hot.processes (run_id, host, ts, pid, ppid, uid, user, state, cpu_pct,
            mem_pct, rss_bytes, vsz_bytes, elapsed_seconds, cpu_seconds, comm, args)
        SELECT run_id, host, ts, 1000 + k, 1, 1000 + k % 5, 'user' || (k % 5), 'R',
               (hash(h, k, n) % 1000) / 10, (hash(h, k) % 100) / 10,
               (hash(h, k) % 10000) * 1048576, (hash(h, k) % 10000) * 4194304, n * 300,
               n * 30.0, 'python3',
               'python3 /opt/jobs/train.py --config /scratch/run' || k
               || '/config.yaml --epochs 100 --batch-size 512 --data /scratch/datasets/imagenet'
        FROM ok, range(30) r(k) WHERE ts >= $pstart""", {"pstart": p["pstart"]})
