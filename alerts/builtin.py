"""The rules on by default, written as config tables (tuned the same way a user would).

Each reads the samples of one poll (``run_id``); ``source`` rules compare a poll with the
host's previous one.
"""

from __future__ import annotations

from typing import Any

from onion.core.status import POLLER_SIDE
from onion.probes.files import FILE_CHANGES_OF_RUN

_PSEUDO_FS = "('squashfs', 'iso9660', 'udf', 'cd9660')"  # read-only images: always "full"

MODULE_CHANGES = """
WITH ok AS (
  SELECT run_id, host, ts FROM probe_results
  WHERE probe = 'modules' AND status = 'ok' AND ts >= $since
), cur AS (
  SELECT host, ts FROM ok WHERE run_id = $run_id
), prev AS (
  SELECT ok.host, max(ok.run_id) AS run_id FROM ok JOIN cur USING (host)
  WHERE ok.run_id < $run_id GROUP BY ok.host
), now_m AS (
  SELECT host, name FROM modules WHERE run_id = $run_id
), old_m AS (
  SELECT m.host, m.name FROM modules m JOIN prev p ON m.host = p.host AND m.run_id = p.run_id
  WHERE m.ts >= $since
)
SELECT $run_id::UBIGINT AS run_id, d.host, cur.ts, d.name, d.change
FROM (
  SELECT coalesce(n.host, o.host) AS host, coalesce(n.name, o.name) AS name,
         CASE WHEN o.name IS NULL THEN 'appeared' ELSE 'vanished' END AS change
  FROM now_m n FULL OUTER JOIN old_m o ON n.host = o.host AND n.name = o.name
  WHERE n.name IS NULL OR o.name IS NULL
) d JOIN cur USING (host) JOIN prev USING (host)
"""

REBOOTS = """
WITH cur AS (
  SELECT host, ts, boot_time, uptime_seconds FROM system
  WHERE run_id = $run_id AND boot_time IS NOT NULL
), prev AS (
  SELECT s.host, arg_max(s.boot_time, s.run_id) AS prev_boot_time FROM system s
  JOIN cur USING (host)
  WHERE s.run_id < $run_id AND s.ts >= $since AND s.boot_time IS NOT NULL GROUP BY s.host
)
SELECT $run_id::UBIGINT AS run_id, host, ts, boot_time, prev_boot_time, uptime_seconds
FROM cur JOIN prev USING (host)
"""

BUILTIN: dict[str, dict[str, Any]] = {
    "host_down": {
        "name": "host_down", "table": "polls", "items": [],
        # failed / poller_fault: Onion or this machine went wrong, not the host
        "condition": f"status NOT IN ('ok', {', '.join(repr(str(s)) for s in POLLER_SIDE)})",
        "value": "status",
        "polls": 2,
        "summary": "{{ host }} is {{ status }}: {{ reason }}", "severity": "critical"},
    "filesystem_full": {
        "name": "filesystem_full", "table": "filesystems", "items": ["mount"],
        "condition": f"coalesce(fstype, '') NOT IN {_PSEUDO_FS} "
                     "AND (used_pct > 90 OR inodes_used > 0.9 * inodes_total)",
        "clear": "coalesce(used_pct, 0) < 85 "
                 "AND coalesce(inodes_used < 0.85 * inodes_total, true)",
        "value": "round(greatest(used_pct, 100.0 * inodes_used / nullif(inodes_total, 0)), 1)",
        "summary": "{{ mount }} is {{ value }} % full "
                   "(space {{ used_pct }} %, inodes {{ inodes_used }}/{{ inodes_total }})"},
    "load_high": {
        "name": "load_high", "table": "cpu", "items": [],
        "condition": "load_1m > 2 * ncpu", "clear": "load_1m < 1.5 * ncpu",
        "value": "load_1m", "for": "15m",
        "summary": "load {{ load_1m }} on {{ ncpu }} CPUs"},
    "memory_low": {
        "name": "memory_low", "table": "memory", "items": [],
        "condition": "available_bytes < 0.05 * total_bytes",
        "clear": "available_bytes > 0.08 * total_bytes",
        "value": "round(100.0 * available_bytes / total_bytes, 1)", "for": "5m",
        "summary": "{{ value }} % of memory available"},
    "gpu_hot": {
        "name": "gpu_hot", "table": "gpu", "items": ["index", "uuid"],
        "condition": "temperature_celsius > 90", "clear": "temperature_celsius < 85",
        "value": "temperature_celsius", "severity": "critical",
        "summary": "GPU {{ index }} ({{ name }}) at {{ temperature_celsius }} °C"},
    # Off by default (a site decides what an idle reservation is): memory held on a GPU
    # that does nothing for an hour, the job that holds it probably stuck or forgotten.
    # MIG GPUs report no GPU-wide utilisation (NULL): never judged idle.
    "gpu_idle_reserved": {
        "name": "gpu_idle_reserved", "table": "gpu", "items": ["index", "uuid"],
        "condition": "memory_used_bytes > 0.9 * memory_total_bytes AND utilization_pct < 5",
        "clear": "memory_used_bytes < 0.8 * memory_total_bytes OR utilization_pct > 20",
        "value": "round(100.0 * memory_used_bytes / memory_total_bytes, 1)", "for": "1h",
        "enabled": False, "severity": "warning",
        "summary": "GPU {{ index }} ({{ name }}): {{ value }} % of its memory held while "
                   "{{ utilization_pct }} % busy for an hour (an idle reservation?)"},
    "temperature_critical": {
        "name": "temperature_critical", "table": "temperatures", "items": ["chip", "sensor"],
        "condition": "celsius >= crit_celsius", "clear": "celsius < crit_celsius - 5",
        "value": "celsius", "severity": "critical",
        "summary": "{{ chip }} {{ sensor }} at {{ celsius }} °C (critical {{ crit_celsius }} °C)"},
    "file_changed": {
        "name": "file_changed", "source": FILE_CHANGES_OF_RUN,
        "items": ["path"],
        "condition": "change <> 'touched'", "value": "change", "event": True,
        "summary": "{{ path }}: {{ change }}"},
    "module_changed": {
        "name": "module_changed", "source": MODULE_CHANGES, "items": ["name"],
        "condition": "true", "value": "change", "event": True,
        "summary": "kernel module {{ name }} {{ change }}"},
    "host_rebooted": {
        "name": "host_rebooted", "source": REBOOTS, "items": [],
        "condition": "epoch(boot_time) - epoch(prev_boot_time) > 60", "value": "boot_time",
        "event": True, "severity": "info",
        "summary": "rebooted at {{ boot_time }} (up since {{ prev_boot_time }} before)"},
    # A central's pollers (onion.daemon.central writes the table each round): the host is
    # the poller's name. Nothing to judge where no poller sends here.
    "poller_stale": {
        "name": "poller_stale", "table": "pollers", "items": [],
        "condition": "age_s > stale_after_s", "clear": "age_s <= stale_after_s",
        "value": "round(age_s)", "severity": "critical",
        "summary": "poller {{ host }} (shard {{ shard }}) has sent nothing for {{ value }} s "
                   "(last batch {{ last_batch_at }})"},
}
