"""The peers of the storage benchmark: Prometheus, VictoriaMetrics and Parquet, same samples.

Every peer gets the samples from one staging table ``s`` (see ``storage.stage_samples``):
``tbl, metric, host, item, labels, ts, v`` where ``v`` is the value as text, exactly as
the probe produced it (integers as integers, decimals as their shortest decimal text).

- Prometheus: ``promtool tsdb create-blocks-from openmetrics`` makes one 2-hour block per
  input window (this promtool has no ``--max-block-duration`` and re-reads the whole file
  for every 2 h window, so the input is cut into one file per window). A long-running
  Prometheus compacts 2 h blocks into larger ones (up to 31 days, or a tenth of the
  retention); we start the real ``prometheus`` server on the blocks, on loopback with no
  scrape targets, and let it compact them, so the figure is what Prometheus keeps on disk
  for old data. Both sizes are reported.
- VictoriaMetrics: started on loopback, samples imported over
  ``/api/v1/import/prometheus`` in chunks, then flushed and force-merged; its ``data`` and
  ``indexdb`` folders are measured once their size settles.
- Parquet zstd: the long table, sorted, and the wide per-table variant.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

WINDOW_S = 7200            # promtool's block length
FETCH = 100_000            # rows per fetch from DuckDB
VM_CHUNK = 16 << 20        # bytes per import request


@dataclass(slots=True)
class PeerResult:
    store: str
    bytes: int | None
    samples: int
    notes: str = ""
    error: str | None = None
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def per_sample(self) -> float | None:
        return self.bytes / self.samples if self.bytes is not None and self.samples else None


def first_line(text: str) -> str:
    for line in str(text).splitlines():
        if line.strip():
            return line.strip()[:200]
    return str(text)[:200] or "(no message)"


def dir_size(path: Path, skip: tuple[str, ...] = ()) -> int:
    total = 0
    if not path.exists():
        return 0
    for p in path.rglob("*"):
        if any(part in skip for part in p.relative_to(path).parts):
            continue
        with contextlib.suppress(OSError):
            if p.is_file() and not p.is_symlink():
                total += p.stat().st_size
    return total


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http(url: str, data: bytes | None = None, timeout: float = 60.0) -> tuple[int, bytes]:
    if not url.startswith("http://127.0.0.1:"):
        raise ValueError(f"loopback only: {url}")
    req = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@contextlib.contextmanager
def server(argv: list[str], log: Path, stop_signal: int = signal.SIGINT,
           grace_s: float = 60.0) -> Iterator[subprocess.Popen[bytes]]:
    """Run a server process; always stop it (signal, then kill) and reap it."""
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.send_signal(stop_signal)
                try:
                    proc.wait(timeout=grace_s)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=30)


def wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"exited with {proc.returncode}: "
                               f"{first_line(log.read_text(errors='replace')[-2000:])}")
        with contextlib.suppress(OSError):
            code, _ = http(url, timeout=2)
            if code == 200:
                return
        time.sleep(0.3)
    raise RuntimeError(f"no answer from {url} in {timeout_s:.0f} s")


def settle(measure: Callable[[], int], every_s: float, stable_n: int, timeout_s: float) -> int:
    """Poll a size until it stays the same ``stable_n`` times in a row (bounded)."""
    deadline = time.monotonic() + timeout_s
    last, same = -1, 0
    while time.monotonic() < deadline:
        size = measure()
        same = same + 1 if size == last else 0
        if same >= stable_n:
            return size
        last = size
        time.sleep(every_s)
    return measure()


# -- the one pass over the samples that feeds Prometheus and VictoriaMetrics ---------------

SERIES_SQL = """
SELECT epoch(ts)::BIGINT // {w} AS win, family, kind,
       name || '{{' || labels || '}} ' || v AS head, epoch(ts)::BIGINT AS t
FROM (SELECT *, 'onion_' || tbl || '_' || metric AS family,
             CASE WHEN counter THEN 'counter' ELSE 'gauge' END AS kind,
             'onion_' || tbl || '_' || metric || CASE WHEN counter THEN '_total' ELSE '' END
               AS name
      FROM s)
ORDER BY win, family, labels, ts
"""


class PromWriter:
    """OpenMetrics text, one file per 2 h window, each turned into a block by promtool."""

    def __init__(self, folder: Path, blocks: Path, promtool: str) -> None:
        self.folder, self.blocks, self.promtool = folder, blocks, promtool
        folder.mkdir(parents=True, exist_ok=True)
        blocks.mkdir(parents=True, exist_ok=True)
        self.file: object | None = None
        self.path: Path | None = None
        self.family: str | None = None
        self.running: tuple[subprocess.Popen[bytes], Path] | None = None
        self.error: str | None = None
        self.windows = 0

    def start(self, win: int) -> None:
        self.finish()
        self.path = self.folder / f"w{win}.om"
        self.file = self.path.open("w", encoding="utf-8")
        self.family = None

    def family_line(self, family: str, kind: str) -> None:
        assert self.file is not None
        self.file.write(f"# TYPE {family} {kind}\n")  # type: ignore[attr-defined]
        self.family = family

    def write(self, text: str) -> None:
        self.file.write(text)  # type: ignore[union-attr]

    def _reap(self) -> None:
        if self.running is None:
            return
        proc, path = self.running
        self.running = None
        try:
            _, err = proc.communicate(timeout=600)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
            err = b"promtool timed out\n" + err
        if proc.returncode != 0 and self.error is None:
            self.error = f"promtool: {first_line(err.decode(errors='replace'))}"
        path.unlink(missing_ok=True)

    def finish(self) -> None:
        if self.file is None or self.path is None:
            return
        self.file.write("# EOF\n")  # type: ignore[attr-defined]
        self.file.close()  # type: ignore[attr-defined]
        self.file = None
        self._reap()  # at most one promtool at a time, running beside the writer
        if self.error is None:
            proc = subprocess.Popen(
                [self.promtool, "tsdb", "create-blocks-from", "openmetrics", "-q",
                 str(self.path), str(self.blocks)],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            self.running = (proc, self.path)
        self.windows += 1
        self.path = None

    def close(self) -> None:
        self.finish()
        self._reap()
        if self.running:
            self.running[0].kill()


class VmWriter:
    """Prometheus text with millisecond timestamps, posted in chunks to a running VM."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.buf: list[str] = []
        self.size = 0
        self.error: str | None = None
        self.posted = 0

    def write(self, text: str) -> None:
        self.buf.append(text)
        self.size += len(text)
        if self.size >= VM_CHUNK:
            self.flush()

    def flush(self) -> None:
        if not self.buf or self.error:
            self.buf, self.size = [], 0
            return
        body = "".join(self.buf).encode()
        self.buf, self.size = [], 0
        try:
            code, text = http(self.url, body, timeout=300)
        except OSError as exc:
            self.error = f"import: {exc}"
            return
        if code not in (200, 204):
            self.error = f"import HTTP {code}: {first_line(text.decode(errors='replace'))}"
        self.posted += len(body)


def feed(con: duckdb.DuckDBPyConnection, prom: PromWriter | None, vm: VmWriter | None) -> int:
    """One ordered pass over the samples, writing both text formats; returns lines written."""
    cur = con.execute(SERIES_SQL.format(w=WINDOW_S))
    win_now: int | None = None
    n = 0
    while True:
        rows = cur.fetchmany(FETCH)
        if not rows:
            break
        prom_lines: list[str] = []
        vm_lines: list[str] = []
        for win, family, kind, head, t in rows:
            if prom is not None:
                if win != win_now:
                    if prom_lines:
                        prom.write("".join(prom_lines))
                        prom_lines = []
                    prom.start(win)
                    win_now = win
                if family != prom.family:
                    if prom_lines:
                        prom.write("".join(prom_lines))
                        prom_lines = []
                    prom.family_line(family, kind)
                prom_lines.append(f"{head} {t}\n")
            if vm is not None:
                vm_lines.append(f"{head} {t}000\n")
        n += len(rows)
        if prom is not None and prom_lines:
            prom.write("".join(prom_lines))
        if vm is not None:
            for line in vm_lines:
                vm.write(line)
    if vm is not None:
        vm.flush()
    return n


# -- Prometheus ------------------------------------------------------------------------------

def block_dirs(path: Path) -> list[Path]:
    return [p for p in path.iterdir() if p.is_dir() and (p / "meta.json").exists()]


def block_stats(path: Path) -> tuple[int, int, int]:
    """(bytes, blocks, samples) of the finished blocks under ``path``."""
    size = samples = 0
    dirs = block_dirs(path)
    for d in dirs:
        size += dir_size(d)
        samples += int(json.loads((d / "meta.json").read_text()).get("stats", {})
                       .get("numSamples", 0))
    return size, len(dirs), samples


def prometheus_compact(blocks: Path, work: Path, timeout_s: float = 300) -> tuple[int, int, int]:
    """Let a real Prometheus server compact the 2 h blocks as it would over time."""
    binary = shutil.which("prometheus")
    if binary is None:
        raise RuntimeError("the prometheus server binary is not installed")
    cfg = work / "prometheus.yml"
    cfg.write_text("global:\n  scrape_interval: 1h\nscrape_configs: []\n")
    port = free_port()
    log = work / "prometheus.log"
    argv = [binary, f"--config.file={cfg}", f"--storage.tsdb.path={blocks}",
            f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=100y",
            "--log.level=warn"]
    base = f"http://127.0.0.1:{port}"
    with server(argv, log, signal.SIGTERM) as proc:
        wait_http(f"{base}/-/ready", proc, log, timeout_s=120)
        deadline = time.monotonic() + timeout_s
        last: tuple[int, int] | None = None
        same = 0
        while time.monotonic() < deadline:   # the first compaction runs after one minute
            if proc.poll() is not None:
                raise RuntimeError(first_line(log.read_text(errors="replace")[-2000:]))
            _, text = http(f"{base}/metrics", timeout=10)
            metrics = _prom_metrics(text.decode(errors="replace"))
            triggered = metrics.get("prometheus_tsdb_compactions_triggered_total", 0)
            state = (len(block_dirs(blocks)),
                     sum(1 for p in blocks.iterdir() if p.name.endswith(".tmp-for-creation")))
            same = same + 1 if state == last and state[1] == 0 and triggered > 0 else 0
            if same >= 4:
                break
            last = state
            time.sleep(3)
    return block_stats(blocks)


def _prom_metrics(text: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            with contextlib.suppress(ValueError):
                out[name.split("{")[0]] = out.get(name.split("{")[0], 0.0) + float(value)
    return out


# -- VictoriaMetrics --------------------------------------------------------------------------

@contextlib.contextmanager
def victoria(data: Path, work: Path) -> Iterator[str]:
    binary = shutil.which("victoria-metrics") or "/usr/bin/victoria-metrics"
    if not Path(binary).exists():
        raise RuntimeError("victoria-metrics is not installed")
    port = free_port()
    log = work / "victoria-metrics.log"
    argv = [binary, f"-storageDataPath={data}", f"-httpListenAddr=127.0.0.1:{port}",
            "-retentionPeriod=100y", "-loggerLevel=ERROR", "-search.disableCache"]
    base = f"http://127.0.0.1:{port}"
    with server(argv, log, signal.SIGINT) as proc:
        wait_http(f"{base}/health", proc, log)
        yield base


def vm_finish(base: str, data: Path, months: list[str], timeout_s: float = 240) -> list[str]:
    """Flush, force-merge every month, wait for the merges to settle; notes on what failed."""
    notes = []
    code, text = http(f"{base}/internal/force_flush", timeout=120)
    if code != 200:
        notes.append(f"force_flush HTTP {code}")
    time.sleep(2)
    for month in months:
        code, text = http(f"{base}/internal/force_merge?partition_prefix={month}", timeout=600)
        if code != 200:
            notes.append(f"force_merge {month}: HTTP {code} "
                         f"{first_line(text.decode(errors='replace'))}")
    settle(lambda: vm_size(data), every_s=2, stable_n=4, timeout_s=timeout_s)
    return notes


def vm_size(data: Path) -> int:
    return dir_size(data / "data") + dir_size(data / "indexdb")


def vm_count(base: str, end_ts: int, span_s: int) -> int | None:
    """Raw samples VictoriaMetrics holds, by its own count (None if it will not say)."""
    days = span_s // 86400 + 2
    query = urllib.request.quote(f'sum(count_over_time({{__name__=~"onion_.+"}}[{days}d]))')
    code, text = http(f"{base}/api/v1/query?query={query}&time={end_ts}", timeout=300)
    if code != 200:
        return None
    with contextlib.suppress(ValueError, KeyError, IndexError):
        return int(float(json.loads(text)["data"]["result"][0]["value"][1]))
    return None


def rm_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


__all__ = ["PeerResult", "PromWriter", "VmWriter", "block_stats", "dir_size", "feed",
           "first_line", "prometheus_compact", "rm_tree", "victoria", "vm_count",
           "vm_finish", "vm_size"]
