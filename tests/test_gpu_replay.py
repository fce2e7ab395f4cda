"""End to end: SSH servers that answer as Linux GPU nodes, from recorded output, polled
through real SSH by the real poller into DuckDB; then the ``gpu`` and ``gpu_processes``
tables and the ``gpu_usage_by_user`` view that joins them.

- an AMD node on ROCm 5.7 (rocm-smi ``--json``, six MI100s): the corpus's capture
  (telegraf's test data); skipped, with the reason, without ``ONION_CORPUS``;
- an AMD node on ROCm 6+ (amd-smi ``--json``, two MI210s): the project's fixtures
  (tests/fixtures/gpu);
- a node with an NVIDIA and an AMD GPU, which lists both.

Each host answers the two probes' part with the text its fragment prints (see the
modules' docstrings): each tool's output after its marker line, then ``ps`` for the pids
listed. The ``ps`` lines are ours: they give each GPU pid an owner that the view must
name.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import asyncssh
import duckdb
import pytest

from onion.inventory.model import Host
from onion.pipeline.round import run_poll
from onion.pipeline.setup import load_config
from onion.poller.plan import section_name
from onion.probes import registry
from onion.probes.base import OS
from onion.probes.gpu import AMD_METRIC_MARK, AMD_STATIC_MARK, NVIDIA_UNAVAILABLE, ROCM_MARK
from onion.probes.gpu_processes import AMD_PROCESS_MARK, PIDGPUS_MARK, PS_MARK, Q_MARK
from tests.conftest import corpus_dir
from tests.replay_server import LoopbackSSHHost, sections

GPU_FIXTURES = Path(__file__).parent / "fixtures" / "gpu"
MIB = 1024 * 1024
NO_NVIDIA = f"{NVIDIA_UNAVAILABLE}nvidia-smi not found"
PROBES = [registry.installed()["gpu"], registry.installed()["gpu_processes"]]
GPU_PART, PROCESSES_PART = (section_name(p, p.parts[OS.LINUX][0]) for p in PROBES)


def fixture(name: str) -> str:
    return (GPU_FIXTURES / name).read_text()


def recorded(name: str) -> str:
    root = corpus_dir()
    if root is None:
        pytest.skip(f"ONION_CORPUS is not set: {name} is a recorded output of the corpus")
    if not (root / name).is_file():
        pytest.skip(f"no corpus file {name} under ONION_CORPUS")
    return (root / name).read_text()


def joined(*blocks: str) -> str:
    return "\n".join(b.rstrip("\n") for b in blocks) + "\n"


class GpuNode(LoopbackSSHHost):
    """A Linux host that answers the gpu and gpu_processes sections with ``texts``."""

    def __init__(self, texts: Mapping[str, str], host_key: asyncssh.SSHKey,
                 authorized_pub: str) -> None:
        async def respond(process: asyncssh.SSHServerProcess, token: str) -> None:
            process.stdout.write("".join(sections(OS.LINUX, PROBES, token, texts)))

        super().__init__(respond, host_key, authorized_pub)


@contextmanager
def polled(tmp_path: Path, hosts: Mapping[str, tuple[str, str]]
           ) -> Iterator[duckdb.DuckDBPyConnection]:
    """One round over ``hosts`` (name: (gpu text, gpu_processes text)), each a GpuNode;
    the database, read-only, once every host and probe came back ok."""
    user_key = asyncssh.generate_private_key("ssh-ed25519")
    user_key.write_private_key(tmp_path / "id_user")
    servers = {name: GpuNode({GPU_PART: gpu, PROCESSES_PART: procs},
                             asyncssh.generate_private_key("ssh-ed25519"),
                             user_key.export_public_key("openssh").decode())
               for name, (gpu, procs) in hosts.items()}
    try:
        known = tmp_path / "known_hosts"
        known.write_text("".join(s.known_hosts_line() for s in servers.values()))
        cfg = load_config(None, str(tmp_path / "onion.duckdb"))
        cfg.ssh.known_hosts, cfg.ssh.config, cfg.ssh.agent = [str(known)], [], False
        inventory = [Host(name=name, address=s.addr, port=s.port, user="admin",
                          key_files=(str(tmp_path / "id_user"),))
                     for name, s in servers.items()]
        summary = run_poll(cfg, inventory, PROBES)
        assert {r.host.name: r.status for r in summary.results} == dict.fromkeys(hosts, "ok")
        assert all(s.commands == ["/bin/sh -s"] for s in servers.values())  # one channel
    finally:
        for s in servers.values():
            s.close()
    con = duckdb.connect(str(cfg.db_path), read_only=True)
    try:
        states = con.execute("SELECT host, probe, status FROM probe_results").fetchall()
        assert sorted(states) == sorted((h, p.name, "ok") for h in hosts for p in PROBES)
        assert {os for (os,) in con.execute("SELECT os FROM polls").fetchall()} == {"linux"}
        yield con
    finally:
        con.close()


GPU_COLUMNS = ("index, uuid, name, pci_bus_id, utilization_pct, memory_utilization_pct, "
               "memory_used_bytes, memory_total_bytes")


def gpus(con: duckdb.DuckDBPyConnection, host: str) -> list[tuple]:
    return con.execute(f"SELECT {GPU_COLUMNS} FROM gpu WHERE host = ? ORDER BY uuid",
                       [host]).fetchall()


def processes(con: duckdb.DuckDBPyConnection, host: str) -> list[tuple]:
    return con.execute(
        'SELECT pid, uuid, used_memory_bytes, process_name, uid, "user", gpu_name, '
        "gpu_memory_total_bytes FROM gpu_processes WHERE host = ? ORDER BY pid, uuid",
        [host]).fetchall()


def usage(con: duckdb.DuckDBPyConnection, host: str) -> list[tuple]:
    """The view, each row beside the gpu row it is about (same poll, host, GPU): a GPU
    id that the two probes spelled differently would lose its gpu name here."""
    return con.execute(
        'SELECT u.uuid, g.name, u.uid, u."user", u.processes, u.memory_bytes, '
        "round(u.memory_share, 6), u.process_names FROM gpu_usage_by_user u "
        "LEFT JOIN gpu g USING (run_id, host, uuid) WHERE u.host = ? "
        'ORDER BY u.uuid, u."user"', [host]).fetchall()


# -- ROCm 5.7: rocm-smi --json, recorded ------------------------------------------------

MI100 = "linux-amd-rocm/rocm-smi-json__mi100_rocm571.out"
MI100_NAME = "Arcturus GL-XL [Instinct MI100]"
MI100_VRAM = 34342961152
# Our processes, added to the recorded document's "system" object the way rocm-smi
# --showpids --json prints them (name, GPU count, VRAM bytes, SDMA, CU); the capture's
# own "PID104225": "mlir-cpu-runner, 0, 0, 0, 0" holds no GPU and stays as recorded.
ROCM_PIDS = {"PID27001": "python3, 1, 17179869184, 0, 0",
             "PID27044": "rocblas-bench, 2, 2147483648, 0, 0"}
# What rocm-smi --showpidgpus prints for them (text: it has no JSON; each list of GPUs
# ends in a space), as in tests/fixtures/gpu/rocm-smi-showpidgpus.txt.
ROCM_PIDGPUS = (
    "============================ ROCm System Management Interface "
    "============================\n"
    "================================== GPUs Indexed by PID "
    "===================================\n"
    "PID 27001 is using 1 DRM device(s):\n3 \n"
    "PID 27044 is using 2 DRM device(s):\n0 5 \n"
    "PID 104225 is using 0 DRM device(s)\n"
    + "=" * 90 + "\n"
    "================================== End of ROCm SMI Log "
    "===================================\n")
ROCM_PS = """\
    PID   UID USER
  27001  1201 hkim
  27044  1202 okafor
 104225  1203 lwei
"""


def rocm_node(doc: str) -> tuple[str, str]:
    showpids = json.loads(doc)
    showpids["system"].update(ROCM_PIDS)
    return (joined(NO_NVIDIA, ROCM_MARK, doc),
            joined(NO_NVIDIA, ROCM_MARK, json.dumps(showpids), PIDGPUS_MARK, ROCM_PIDGPUS,
                   PS_MARK, ROCM_PS))


def test_rocm_smi_node_from_recorded_output(tmp_path: Path) -> None:
    doc = recorded(MI100)
    assert "PID104225" in json.loads(doc)["system"]  # the capture this test was written from
    with polled(tmp_path, {"mi100-box": rocm_node(doc)}) as con:
        # The capture's cards: no Unique ID ("N/A"), so each is known by its PCI bus.
        buses = ["0000:1e:00.0", "0000:22:00.0", "0000:3f:00.0", "0000:43:00.0",
                 "0000:46:00.0", "0000:49:00.0"]
        assert gpus(con, "mi100-box") == [
            (i, f"PCI-{bus}", MI100_NAME, bus, 0.0, 0.0, 6782976, MI100_VRAM)
            for i, bus in enumerate(buses)]
        assert con.execute(
            "SELECT index, temperature_celsius, power_draw_watts, power_limit_watts, "
            "driver_version FROM gpu WHERE host = 'mi100-box' ORDER BY index").fetchall() == [
            (0, 31.0, 39.0, 290.0, "6.2.4"), (1, 30.0, 37.0, 290.0, "6.2.4"),
            (2, 31.0, 35.0, 290.0, "6.2.4"), (3, 33.0, 39.0, 290.0, "6.2.4"),
            (4, 32.0, 39.0, 290.0, "6.2.4"), (5, 33.0, 40.0, 290.0, "6.2.4")]
        # rocm-smi sums a process's VRAM over its GPUs: on two, neither row has a number.
        assert processes(con, "mi100-box") == [
            (27001, "PCI-0000:43:00.0", 16 << 30, "python3", 1201, "hkim", MI100_NAME,
             MI100_VRAM),
            (27044, "PCI-0000:1e:00.0", None, "rocblas-bench", 1202, "okafor", MI100_NAME,
             MI100_VRAM),
            (27044, "PCI-0000:49:00.0", None, "rocblas-bench", 1202, "okafor", MI100_NAME,
             MI100_VRAM)]
        assert usage(con, "mi100-box") == [
            ("PCI-0000:1e:00.0", MI100_NAME, 1202, "okafor", 1, None, None,
             ["rocblas-bench"]),
            ("PCI-0000:43:00.0", MI100_NAME, 1201, "hkim", 1, 16 << 30,
             round((16 << 30) / MI100_VRAM, 6), ["python3"]),
            ("PCI-0000:49:00.0", MI100_NAME, 1202, "okafor", 1, None, None,
             ["rocblas-bench"])]  # lwei's mlir-cpu-runner is on no GPU: nowhere


# -- ROCm 6+: amd-smi --json, the project's fixtures ------------------------------------

MI210 = "AMD Instinct MI210"
MI210_VRAM = 65520 * MIB  # amd-smi's "MB" are MiB
AMD_PS = """\
    PID   UID USER
  48213  2001 mkowalski
  48377  2002 tnguyen
"""
AMD_GPUS = [  # amd-smi-static.json and amd-smi-metric.json
    (0, "AMD-5d2f1a7c3b4e9a10", MI210, "0000:c1:00.0", 87.0, 35.0, 40960 * MIB, MI210_VRAM),
    (1, "PCI-0000:c2:00.0", MI210, "0000:c2:00.0", 0.0, 0.0, 10 * MIB, MI210_VRAM)]


def amd_smi_parts(nvidia_gpu: str = NO_NVIDIA, nvidia_procs: str = NO_NVIDIA,
                  ps: str = AMD_PS) -> tuple[str, str]:
    static = fixture("amd-smi-static.json")
    return (joined(nvidia_gpu, AMD_STATIC_MARK, static, AMD_METRIC_MARK,
                   fixture("amd-smi-metric.json")),
            joined(nvidia_procs, AMD_STATIC_MARK, static, AMD_PROCESS_MARK,
                   fixture("amd-smi-process.json"), PS_MARK, ps))


AMD_PROCESSES = [  # amd-smi-process.json: python3 and a process amd-smi names "N/A"
    (48213, "AMD-5d2f1a7c3b4e9a10", 32 << 30, "python3", 2001, "mkowalski", MI210,
     MI210_VRAM),
    (48377, "AMD-5d2f1a7c3b4e9a10", 8 << 30, None, 2002, "tnguyen", MI210, MI210_VRAM)]
AMD_USAGE = [
    ("AMD-5d2f1a7c3b4e9a10", MI210, 2001, "mkowalski", 1, 32 << 30,
     round((32 << 30) / MI210_VRAM, 6), ["python3"]),
    ("AMD-5d2f1a7c3b4e9a10", MI210, 2002, "tnguyen", 1, 8 << 30,
     round((8 << 30) / MI210_VRAM, 6), [])]


def test_amd_smi_node_from_the_fixtures(tmp_path: Path) -> None:
    with polled(tmp_path, {"mi210-box": amd_smi_parts()}) as con:
        assert gpus(con, "mi210-box") == AMD_GPUS
        assert con.execute(
            "SELECT index, temperature_celsius, memory_temperature_celsius, power_draw_watts, "
            "power_limit_watts, driver_version FROM gpu WHERE host = 'mi210-box' "
            "ORDER BY index").fetchall() == [(0, 48.0, 55.0, 231.0, 300.0, "6.8.5"),
                                             # no edge sensor: the hotspot; no power cap
                                             (1, 39.0, 36.0, 42.0, None, "6.8.5")]
        assert processes(con, "mi210-box") == AMD_PROCESSES
        assert usage(con, "mi210-box") == AMD_USAGE  # GPU 1 lists no process: no row


# -- NVIDIA and AMD on one host ----------------------------------------------------------

L4 = "GPU-8d7e0c9a-31b4-4f0e-9a57-2c1d6e4b7f30"
H100 = "GPU-00000000-0000-0000-0000-000000000000"  # masked upstream
H100_NAME = "NVIDIA H100 80GB HBM3"
H100_VRAM = 81559 * MIB
H100_PS = """\
  PID   UID USER
11327  2101 rsingh
11328  2101 rsingh
11345  2102 abello
"""


def nvidia_l4() -> tuple[str, str, list[tuple], list[tuple], list[tuple]]:
    """The project's nvidia-smi csv (one L4), which runs no process: nvidia-smi prints
    the header alone."""
    gpu = (0, L4, "NVIDIA L4", "00000000:41:00.0", None, None, 20118 * MIB, 23034 * MIB)
    return (fixture("nvidia-query-gpu.csv"),
            "pid, gpu_uuid, gpu_bus_id, gpu_name, used_memory [MiB], process_name\n",
            [gpu], [], [])


def nvidia_h100() -> tuple[str, str, list[tuple], list[tuple], list[tuple]]:
    """The corpus's H100 host: its query-gpu and compute-apps csv and its ``-q`` report
    (a superset of ``-d PIDS,MEMORY``), all recorded at one moment."""
    host = "ubuntu-22.04-nvidia-h100"
    gpu = (0, H100, H100_NAME, "00000000:00:09.0", 100.0, 11.0, 19818 * MIB, H100_VRAM)
    procs = [(11327, H100, 2566 * MIB, "/root/tools/memhog", 2101, "rsingh", H100_NAME,
              H100_VRAM),
             (11328, H100, 1542 * MIB, "/root/tools/memhog", 2101, "rsingh", H100_NAME,
              H100_VRAM),
             (11345, H100, 15690 * MIB, "./gpu_burn", 2102, "abello", H100_NAME, H100_VRAM)]
    usage_rows = [(H100, H100_NAME, 2102, "abello", 1, 15690 * MIB,
                   round(15690 * MIB / H100_VRAM, 6), ["./gpu_burn"]),
                  (H100, H100_NAME, 2101, "rsingh", 2, 4108 * MIB,
                   round(4108 * MIB / H100_VRAM, 6), ["/root/tools/memhog"])]
    return (recorded(f"{host}/nvidia-smi-query-gpu-csv.out"),
            joined(recorded(f"{host}/nvidia-smi-query-compute-apps-csv.out"), Q_MARK,
                   recorded(f"{host}/nvidia-smi-q.out")),
            [gpu], procs, usage_rows)


@pytest.mark.parametrize("nvidia", [nvidia_l4, nvidia_h100], ids=["l4-fixture", "h100-corpus"])
def test_a_node_with_nvidia_and_amd_gpus_lists_both(tmp_path: Path, nvidia) -> None:
    nv_gpu, nv_procs, nv_gpus, nv_processes, nv_usage = nvidia()
    # One ps for both vendors' pids, as the fragment runs it.
    ps = AMD_PS + H100_PS.partition("\n")[2] if nv_processes else AMD_PS
    gpu_text, procs_text = amd_smi_parts(nv_gpu, nv_procs, ps)
    with polled(tmp_path, {"mixed-box": (gpu_text, procs_text)}) as con:
        # NVIDIA's index 0 and AMD's index 0 are two GPUs: the uuid tells them apart.
        assert gpus(con, "mixed-box") == sorted(AMD_GPUS + nv_gpus, key=lambda r: r[1])
        vendors = con.execute("SELECT count(*) FILTER (WHERE uuid LIKE 'GPU-%'), "
                              "count(*) FILTER (WHERE uuid NOT LIKE 'GPU-%') FROM gpu "
                              "WHERE host = 'mixed-box'").fetchone()
        assert vendors == (1, 2)
        assert processes(con, "mixed-box") == sorted(AMD_PROCESSES + nv_processes,
                                                     key=lambda r: (r[0], r[1]))
        assert usage(con, "mixed-box") == sorted(AMD_USAGE + nv_usage,
                                                 key=lambda r: (r[0], r[3]))
