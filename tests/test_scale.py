"""One very big host: 20,000 processes, 500 mounts and 64 GPUs, through the real pipeline.

The host is an SSH server on loopback (tests/fault_server.py) that answers the real
script's sections with generated output in the formats the Linux parsers read (procps
``ps``, GNU ``df --output``, ``nvidia-smi --query-gpu``): SSH transport, splitter,
parsers, masking, spool and DuckDB, as in a real poll. Times are printed, not asserted.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import asyncssh
import duckdb
import pytest

from onion.inventory.model import Host
from onion.pipeline.round import run_poll
from onion.pipeline.setup import load_config
from onion.probes import registry
from onion.probes.base import OS
from tests import fault_server as fs
from tests.sshd import keygen

PROCS, MOUNTS, GPUS = 20_000, 500, 64
COMMS = ["python3", "slurmstepd", "sshd", "bash", "Web Content", "nginx: worker", "java",
         "kworker/12:1H", "postgres", "mysqld"]


def ps_output(rnd: random.Random) -> str:
    """procps ``ps -o pid,ppid,uid,user:32,stat,pcpu,pmem,rss,vsz,etimes,times,comm -o
    args=ARGS``, columns laid out as procps does."""
    lines = [f"{'PID':>7} {'PPID':>7} {'UID':>5} {'USER':<32} {'STAT':<4} {'%CPU':>5} "
             f"{'%MEM':>4} {'RSS':>8} {'VSZ':>9} {'ELAPSED':>8} {'TIME':>7} {'COMMAND':<15} ARGS"]
    for i in range(PROCS):
        pid = 1 + i * 3
        comm = COMMS[i % len(COMMS)]
        args = (f"/usr/bin/{comm.split()[0]} --job {i} --work-dir '/scratch/u{i % 97}/run {i}'"
                + (f" --password=pw{i}" if i % 1000 == 0 else ""))
        if comm.startswith("kworker"):
            args = f"[{comm}]"
        lines.append(
            f"{pid:>7} {max(pid - 3, 0):>7} {1000 + i % 50:>5} {'user' + str(i % 50):<32} "
            f"{rnd.choice(['S', 'Ss', 'R+', 'D', 'Sl']):<4} {rnd.random() * 800:>5.1f} "
            f"{rnd.random() * 4:>4.1f} {rnd.randrange(1 << 24):>8} {rnd.randrange(1 << 30):>9} "
            f"{rnd.randrange(10**7):>8} {rnd.randrange(10**6):>7} {comm:<15} {args}")
    return "\n".join(lines) + "\n"


def df_output(rnd: random.Random) -> str:
    lines = ["Filesystem              Type     1K-blocks     Used    Avail Use%   Inodes  "
             "IUsed    IFree Mounted on"]
    for i in range(MOUNTS):
        size = rnd.randrange(1 << 20, 1 << 40)
        used = rnd.randrange(size)
        avail = size - used
        mount = f"/mnt/share {i}" if i % 50 == 0 else f"/scratch/vol{i:03d}"
        lines.append(f"server{i % 9}:/export/v{i} nfs4 {size} {used} {avail} "
                     f"{-(-used * 100 // size)}% {10**7} {i} {10**7 - i} {mount}")
    return "\n".join(lines) + "\n"


def gpu_output() -> str:
    header = ("index, uuid, name, pci.bus_id, driver_version, pstate, mig.mode.current, "
              "utilization.gpu [%], utilization.memory [%], memory.used [MiB], "
              "memory.total [MiB], temperature.gpu, temperature.memory, power.draw [W], "
              "power.limit [W], fan.speed [%], clocks.current.sm [MHz], "
              "ecc.errors.uncorrected.volatile.total")
    rows = [f"{i}, GPU-{i:08x}-aaaa-bbbb-cccc-ddddeeeeffff, NVIDIA H100 80GB HBM3, "
            f"00000000:{i:02X}:00.0, 550.54.15, P0, Disabled, {i % 101}, {i % 50}, {i * 100}, "
            f"81559, {40 + i % 40}, {50 + i % 30}, {300 + i}.25, 700.00, [N/A], 1980, 0"
            for i in range(GPUS)]
    return "\n".join([header, *rows]) + "\n"


@pytest.fixture(scope="module")
def big_host(tmp_path_factory):
    root = tmp_path_factory.mktemp("scale")
    key = keygen(root / "id_user")
    rnd = random.Random(7)
    texts = {"processes.ps": ps_output(rnd), "filesystems.df": df_output(rnd),
             "gpu.query_gpu": gpu_output()}
    probes = registry.select(registry.installed())
    host = fs.FaultHost(fs.answer(probes, texts), asyncssh.generate_private_key("ssh-ed25519"),
                        key.with_suffix(".pub").read_text())
    known = root / "known_hosts"
    known.write_text(host.known_hosts_line())
    yield host, key, known, texts, probes
    host.close()


def test_parsers_alone(big_host):
    _, _, _, texts, _ = big_host
    probes = registry.installed()
    for name, part, n in (("processes", "ps", PROCS), ("filesystems", "df", MOUNTS),
                          ("gpu", "query_gpu", GPUS)):
        t0 = time.perf_counter()
        records = probes[name].parse(OS.LINUX, {part: texts[f"{name}.{part}"]})
        print(f"\nparse {n} {name}: {time.perf_counter() - t0:.3f} s", end="")
        assert len(records) == n


def test_one_huge_host_through_the_whole_pipeline(big_host, tmp_path: Path):
    host, key, known, _, probes = big_host
    cfg = load_config(None, str(tmp_path / "onion.duckdb"))
    cfg.ssh.known_hosts = [str(known)]
    cfg.ssh.config = []
    cfg.ssh.agent = False
    h = Host(name="huge", address=host.addr, port=host.port, user="root",
             key_files=(str(key),))
    t0 = time.perf_counter()
    summary = run_poll(cfg, [h], probes)
    wall = time.perf_counter() - t0
    r = summary.results[0]
    print(f"\none host, {r.bytes_read / 1e6:.1f} MB of output: poll and store {wall:.2f} s "
          f"(command {r.command_s:.2f} s, cpu {summary.cpu_s:.2f} s)")
    assert r.status == "ok", r.reason
    for name in ("processes", "filesystems", "gpu"):
        assert r.probes[name].status == "ok", r.probes[name].reason
    con = duckdb.connect(str(cfg.db_path), read_only=True)
    assert con.execute("SELECT count(*), count(DISTINCT pid) FROM processes").fetchone() == \
        (PROCS, PROCS)
    comm, args, user = con.execute(
        "SELECT comm, args, user FROM processes WHERE pid = 1 + 4 * 3").fetchone()
    assert comm == "Web Content" and user == "user4"
    assert args == "/usr/bin/Web --job 4 --work-dir '/scratch/u4/run 4'"
    masked = con.execute("SELECT count(*) FROM processes WHERE args LIKE '%--password=***'"
                         ).fetchone()[0]
    assert masked == PROCS // 1000
    assert con.execute("SELECT count(*) FROM processes WHERE args LIKE '%--password=pw%'"
                       ).fetchone()[0] == 0
    assert con.execute("SELECT count(*) FROM filesystems").fetchone()[0] == MOUNTS
    assert con.execute("SELECT count(*) FROM filesystems WHERE mount LIKE '/mnt/share %'"
                       ).fetchone()[0] == MOUNTS // 50
    assert con.execute("SELECT count(*), max(index), sum(memory_used_bytes) FROM gpu"
                       ).fetchone() == (GPUS, GPUS - 1, sum(i * 100 for i in range(GPUS)) << 20)
    assert con.execute("SELECT count(*) FROM latest_processes").fetchone()[0] == PROCS
