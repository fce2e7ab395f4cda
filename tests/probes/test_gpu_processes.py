"""gpu_processes: NVIDIA csv (and MIG from ``-q``), amd-smi and rocm-smi JSON, the owners,
the fragments in a real sh, the gpu_usage_by_user view through the real store path, fuzz.

Until pyproject.toml has its entry point the probe is not installed: these tests import
PROBE, and fuzz it here as tests/test_fuzz_all.py would. The fixtures are ours
(tests/fixtures/gpu), written from the documented formats: nvidia-smi's csv and ``-q``
layout as the corpus records them, amd-smi's JSON from its source (amdsmi_cli), rocm-smi's
``--showpids`` JSON and ``--showpidgpus`` text from rocm_smi.py.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
from collections import defaultdict
from pathlib import Path

import pytest

from onion.inventory.model import Host
from onion.poller.collect import HostResult, ProbeResult
from onion.poller.run import make_batch
from onion.probes.base import OS, ParseError, Table, Unavailable, as_json
from onion.probes.gpu import AMD_METRIC_MARK, AMD_STATIC_MARK, NVIDIA_UNAVAILABLE, ROCM_MARK
from onion.probes.gpu import PROBE as GPU
from onion.probes.gpu_processes import (
    AMD_PROCESS_MARK,
    PIDGPUS_MARK,
    PROBE,
    PS_MARK,
    Q_MARK,
    parse_owners,
    parse_q_pids,
)
from onion.storage import duck as store
from onion.storage.batch import Batch
from tests.conftest import corpus_params
from tests.synthetic import store_batch

FIXTURES = Path(__file__).parent.parent / "fixtures" / "gpu"
MIB = 1024 * 1024
H100 = "GPU-3b1e9c52-7a04-4d8e-b6f1-0c2a9e5d4f17"
NO_NVIDIA = "nvidia-smi not found"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def host(nvidia: str = "", *, nvidia_na: str | None = None, amd_static: str | None = None,
         amd_process: str | None = None, rocm: str | None = None, pidgpus: str | None = None,
         ps: str | None = None) -> str:
    """The part's text as the fragment prints it (see the module's docstring)."""
    out = [nvidia.rstrip("\n")] if nvidia else []
    if nvidia_na is not None:
        out.append(NVIDIA_UNAVAILABLE + nvidia_na)
    if amd_process is not None:
        out += [AMD_STATIC_MARK, amd_static or "", AMD_PROCESS_MARK, amd_process]
    if rocm is not None:
        out += [ROCM_MARK, rocm, PIDGPUS_MARK, pidgpus or ""]
    if ps is not None:
        out += [PS_MARK, ps]
    return "\n".join(out) + "\n"


def parse(text: str, os_: OS = OS.LINUX) -> Table:
    return PROBE.parse(os_, {"smi": text})


PS = "    PID   UID USER\n  48213  1001 alice\n  48377  1003 dave\n"
ROCM_PS = "    PID   UID USER\n   4711  1001 alice\n   4790  1002 bob\n   5120     0 root\n"


def amd_smi_host(ps: str | None = PS, **more: str) -> str:
    return host(amd_static=fixture("amd-smi-static.json"),
                amd_process=fixture("amd-smi-process.json"), ps=ps, **more)


def rocm_host(doc: str | None = None, pidgpus: str | None = None, ps: str = ROCM_PS) -> str:
    return host(nvidia_na=NO_NVIDIA, rocm=doc or fixture("rocm-smi-showpids.json"),
                pidgpus=fixture("rocm-smi-showpidgpus.txt") if pidgpus is None else pidgpus,
                ps=ps)


def test_the_record_and_its_key() -> None:
    assert PROBE.key == ("uuid", "pid", "gpu_instance_id", "compute_instance_id")
    assert "gpu_usage_by_user" in PROBE.views


# -- NVIDIA ------------------------------------------------------------------------------

def test_the_minimal_query_of_the_issue() -> None:
    # --query-compute-apps=gpu_uuid,pid,used_memory --format=csv,nounits
    rows = parse("gpu_uuid, pid, used_gpu_memory [MiB]\nGPU-a, 4711, 1024\nGPU-b, 4712, [N/A]\n")
    assert [(r.uuid, r.pid, r.used_memory_bytes) for r in rows] == [
        ("GPU-a", 4711, 1024 * MIB), ("GPU-b", 4712, None)]
    assert all(r.gpu_instance_id is None and r.user is None for r in rows)


def test_mig_instances_owners_and_memory_size() -> None:
    a, b, c = parse(fixture("nvidia-compute-apps-mig.txt"))
    assert (a.uuid, a.pid, a.gpu_instance_id, a.compute_instance_id) == (H100, 21180, 2, 0)
    assert (a.used_memory_bytes, a.uid, a.user) == (2296 * MIB, 0, "root")
    assert (a.gpu_name, a.gpu_memory_total_bytes) == ("NVIDIA H100 80GB HBM3", 81559 * MIB)
    assert (b.gpu_instance_id, b.user) == (2, "alice")
    # A name with a comma (nvidia-smi does not quote) stays one name; another instance.
    assert (c.process_name, c.gpu_instance_id, c.user) == ("/opt/app,v2/bin/infer", 3, "carol")


def test_a_pid_twice_on_one_gpu_is_told_apart_by_its_memory() -> None:
    text = ("pid, gpu_uuid, gpu_bus_id, used_gpu_memory [MiB]\n"
            "7, GPU-a, 00000000:01:00.0, 100\n7, GPU-a, 00000000:01:00.0, 200\n"
            f"{Q_MARK}\nGPU 00000000:01:00.0\n    Processes\n"
            "        GPU instance ID : 1\n        Compute instance ID : 0\n"
            "        Process ID : 7\n            Used GPU Memory : 200 MiB\n"
            "        GPU instance ID : 5\n        Compute instance ID : 0\n"
            "        Process ID : 7\n            Used GPU Memory : 100 MiB\n")
    assert [(r.used_memory_bytes // MIB, r.gpu_instance_id) for r in parse(text)] == [
        (100, 5), (200, 1)]


@pytest.mark.parametrize("text", [
    "pid, gpu_uuid, gpu_bus_id, gpu_name, used_gpu_memory [MiB], process_name\n",
    "No running processes found\n", ""])
@pytest.mark.parametrize("os_", [OS.LINUX, OS.FREEBSD])
def test_no_process_is_zero_rows_not_an_error(text: str, os_: OS) -> None:
    assert len(parse(text, os_)) == 0


@pytest.mark.parametrize("text", ["No devices were found\n",
                                  "NVIDIA-SMI has failed because it couldn't communicate with "
                                  "the NVIDIA driver.\n"])
def test_driver_failures_are_unavailable(text: str) -> None:
    with pytest.raises(Unavailable):
        parse(text)


def test_no_tool_at_all_is_unavailable() -> None:
    for os_ in (OS.LINUX, OS.FREEBSD):  # the fragment's _na: the part is absent
        with pytest.raises(Unavailable):
            PROBE.parse(os_, {})
    with pytest.raises(Unavailable, match=NO_NVIDIA):
        parse(host(nvidia_na=NO_NVIDIA))


def test_a_header_without_pid_is_a_parse_error_and_a_bad_row_costs_that_row() -> None:
    with pytest.raises(ParseError):
        parse("index, name\n0, T4\n")
    rows = parse("pid, gpu_uuid, used_gpu_memory [MiB]\n1, GPU-a, 5\n2, GPU-a\n"
                 "3, GPU-a, 7\n0, GPU-a, 1\n")
    assert [r.pid for r in rows] == [1, 3] and len(rows.skipped) == 2


def test_owners_from_ps() -> None:
    assert parse_owners("  PID   UID USER\n 1 0 root\n 2 1001 averyveryverylongna+\n"
                        " 3 x y\nps: bad -p\n 4 99999999999 z\n") == {
        1: (0, "root"), 2: (1001, None), 3: (None, "y"), 4: (None, "z")}


@pytest.mark.parametrize("path", corpus_params("*/nvidia-smi-query-compute-apps-csv.out"))
def test_recorded_compute_apps_csv(path) -> None:
    # timestamp, gpu_name, gpu_bus_id, gpu_serial, gpu_uuid, pid, process_name,
    # used_gpu_memory [MiB] (--format=csv: "538 MiB"), read by its header.
    rows = parse(path.read_text())
    lines = [ln for ln in path.read_text().splitlines() if ln.strip()]
    assert len(rows) == len(lines) - 1 and not rows.skipped
    for row in rows:
        assert row.uuid.startswith("GPU-") and row.pid > 0 and row.process_name
        assert row.gpu_name.startswith("NVIDIA") and row.used_memory_bytes % MIB == 0
        assert 0 < row.used_memory_bytes < 200 * 1024 * MIB


MIG = "ubuntu-22.04-nvidia-h100-mig"


@pytest.mark.parametrize("path", corpus_params(f"{MIG}/nvidia-smi-q.out"))
def test_recorded_mig_q_gives_each_process_its_instance(path) -> None:
    totals, procs = parse_q_pids(path.read_text())
    assert totals == {"00000000:00:09.0": 81559 * MIB}  # not a MIG device's shared size
    assert [(p.pid, p.gi, p.ci) for p in procs["00000000:00:09.0"]] == [
        (21180, 2, 0), (21181, 2, 0), (21198, 2, 0)]
    apps = (path.parent / "nvidia-smi-query-compute-apps-csv.out").read_text()
    rows = parse(f"{apps}{Q_MARK}\n{path.read_text()}")
    assert [(r.pid, r.gpu_instance_id, r.compute_instance_id) for r in rows] == [
        (21180, 2, 0), (21181, 2, 0), (21198, 2, 0)]


# -- AMD ---------------------------------------------------------------------------------

def test_amd_smi_processes() -> None:
    a, b = parse(amd_smi_host(nvidia_na=NO_NVIDIA))
    assert (a.uuid, a.pid, a.used_memory_bytes, a.process_name) == (
        "AMD-5d2f1a7c3b4e9a10", 48213, 32 << 30, "python3")
    assert (a.user, a.uid, a.gpu_name, a.gpu_memory_total_bytes) == (
        "alice", 1001, "AMD Instinct MI210", 65520 * MIB)
    assert (b.process_name, b.user) == (None, "dave")  # NAME: N/A


def test_amd_smi_processes_need_the_static_ids() -> None:
    with pytest.raises(ParseError, match="no id for this GPU"):
        parse(host(nvidia_na=NO_NVIDIA, amd_static="",
                   amd_process=fixture("amd-smi-process.json")))
    none = [{"gpu": 0, "process_list": [{"process_info": "No running processes detected"}]}]
    assert len(parse(host(nvidia_na=NO_NVIDIA, amd_static="", amd_process=json.dumps(none)))
               ) == 0
    with pytest.raises(Unavailable, match="amd-smi process printed nothing"):
        parse(host(nvidia_na=NO_NVIDIA, amd_static="", amd_process=""))


def test_rocm_smi_processes() -> None:
    rows = parse(rocm_host())
    assert [(r.pid, r.uuid, r.used_memory_bytes, r.user) for r in rows] == [
        (4711, "AMD-02150e7d042a1124", 8 << 30, "alice"),
        # on two GPUs: rocm-smi gives the sum only, so neither row has a number
        (4790, "AMD-02150e7d042a1124", None, "bob"), (4790, "PCI-0000:05:00.0", None, "bob")]
    assert rows[1].process_name == "web content"  # rocm-smi's ", " between words undone
    assert rows[0].gpu_memory_total_bytes == 17163091968
    # kfd_open (PID5120) holds no GPU: no row


def test_rocm_smi_without_pidgpus_knows_the_gpu_only_where_there_is_one() -> None:
    one = {"card0": {"PCI Bus": "0000:04:00.0"}, "system": {"PID9": "x, 1, 4096, 0, 0"}}
    (row,) = parse(rocm_host(json.dumps(one), pidgpus=""))
    assert (row.uuid, row.used_memory_bytes) == ("PCI-0000:04:00.0", 4096)
    two = {**one, "card1": {"PCI Bus": "0000:05:00.0"}}
    with pytest.raises(ParseError, match="which of 2 GPUs"):
        parse(rocm_host(json.dumps(two), pidgpus=""))


@pytest.mark.parametrize("path", corpus_params("linux-amd-rocm/rocm-smi-json__*.out"))
def test_recorded_rocm_smi_json(path) -> None:
    # mi100_rocm571 lists "PID104225": "mlir-cpu-runner, 0, 0, 0, 0": on no GPU, no row.
    assert len(parse(rocm_host(path.read_text(), pidgpus=""))) == 0


@pytest.mark.parametrize("name", [
    "linux-amd-rocm6.4-mi300x/amd-smi-process.out",   # amd-smi process without --json
    "linux-amd-mi300a-rocky9.5/rocm-smi-showpids.out",  # rocm-smi --showpids without --json
    "linux-amd-rocm6.4.2-mi50/rocm-smi-showpids-details.out"])
def test_recorded_text_tables_are_refused(corpus, name) -> None:
    text = (corpus / name).read_text()
    with pytest.raises(ParseError):
        parse(host(nvidia_na=NO_NVIDIA, amd_static="", amd_process=text))
    with pytest.raises(ParseError):
        parse(rocm_host(text, pidgpus=""))


def test_nvidia_and_amd_on_one_host_and_one_failing() -> None:
    mig = fixture("nvidia-compute-apps-mig.txt").partition(PS_MARK)[0]
    rows = parse(amd_smi_host(nvidia=mig))
    assert [r.uuid[:4] for r in rows] == ["GPU-"] * 3 + ["AMD-"] * 2 and not rows.skipped
    assert [r.user for r in rows] == [None, None, None, "alice", "dave"]  # one ps for all
    for reason in (NO_NVIDIA, "nvidia-smi failed: No devices were found"):
        rows = parse(amd_smi_host(nvidia_na=reason))
        assert len(rows) == 2 and not rows.skipped  # CUDA tools on an AMD host
    rows = parse(amd_smi_host(nvidia_na="nvidia-smi failed: Failed to initialize NVML"))
    assert len(rows) == 2 and rows.skipped == ["nvidia-smi failed: Failed to initialize NVML"]
    rows = parse(host(mig, amd_static="", amd_process="{"))
    assert len(rows) == 3 and "broken JSON" in rows.skipped[0]


# -- fixture cases for tests/fixtures/<os>/ ------------------------------------------------
# Written here (tests/fixtures/gpu/<os>/, out of test_fixtures.py's reach) until the probe
# is installed and they move beside the other probes' cases; read wherever they are.

CASES: dict[tuple[Path, str, str], dict[str, str]] = defaultdict(dict)
for _out in sorted([*FIXTURES.glob("*/*.out"), *FIXTURES.parent.glob("*/gpu_processes--*.out")]):
    _probe, _case, _part = _out.stem.split("--")
    CASES[(_out.parent, _probe, _case)][_part] = _out.read_text()


@pytest.mark.parametrize("key", sorted(CASES), ids=lambda k: f"{k[0].name}/{k[1]}--{k[2]}")
def test_fixture_cases(key) -> None:
    folder, probe, case = key
    expected = json.loads((folder / f"{probe}--{case}.json").read_text())
    os_ = OS(folder.name.split("-", 1)[0])
    got = [as_json(r) for r in {"gpu": GPU, "gpu_processes": PROBE}[probe].parse(
        os_, CASES[key])]
    assert got == expected


# -- the fragment, run by a real sh against stand-in tools ---------------------------------

def _stub(folder: Path, name: str, script: str) -> None:
    path = folder / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)


def run_part(path: Path, os_: OS = OS.LINUX) -> tuple[int, str, str]:
    (part,) = PROBE.parts[os_]
    script = '_na() { printf "%s\\n" "$*" >&2; exit 69; }\n' + part.sh
    r = subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True,
                       env={"PATH": str(path), "LC_ALL": "C"}, stdin=subprocess.DEVNULL)
    return r.returncode, r.stdout, r.stderr


@pytest.fixture
def tools(tmp_path: Path) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("sed", "cat", "awk", "tr", "sort"):
        for d in ("/usr/bin", "/bin"):
            if os.path.exists(f"{d}/{tool}"):
                (bin_dir / tool).symlink_to(f"{d}/{tool}")
                break
    # ps stand-in: says which pids it was asked about, and gives them all to alice.
    _stub(bin_dir, "ps", f"""\
echo "$*" > '{tmp_path / "ps.args"}'
echo '  PID   UID USER'
for p in $(echo "$4" | tr ',' ' '); do echo "$p 1001 alice"; done
""")
    return bin_dir


def ps_args(tools: Path) -> list[str]:
    return (tools.parent / "ps.args").read_text().split()


def nvidia_stub(tools: Path) -> None:
    text = fixture("nvidia-compute-apps-mig.txt")
    csv_part, _, rest = text.partition(Q_MARK + "\n")
    (tools / "apps.csv").write_text(csv_part)
    (tools / "q.txt").write_text(rest.partition(PS_MARK)[0])
    _stub(tools, "nvidia-smi", f"""\
case "$1" in
  --query-compute-apps=*) cat '{tools / "apps.csv"}';;
  -q) cat '{tools / "q.txt"}';;
esac
""")


def amd_smi_stub(tools: Path) -> None:
    _stub(tools, "amd-smi", f"""\
case "$1" in
  static) cat '{FIXTURES / "amd-smi-static.json"}';;
  process) cat '{FIXTURES / "amd-smi-process.json"}';;
esac
""")


def test_nvidia_host(tools: Path) -> None:
    nvidia_stub(tools)
    rc, out, _ = run_part(tools)
    assert rc == 0 and ps_args(tools) == ["-o", "pid,uid,user:32", "-p", "21180,21198,30511"]
    assert [(r.pid, r.gpu_instance_id, r.user) for r in parse(out)] == [
        (21180, 2, "alice"), (21198, 2, "alice"), (30511, 3, "alice")]
    rc, out, _ = run_part(tools, OS.FREEBSD)
    assert ps_args(tools)[1] == "pid,uid,user" and len(parse(out, OS.FREEBSD)) == 3


def test_nvidia_host_without_processes_and_hosts_without_tools(tools: Path) -> None:
    assert run_part(tools) == (69, "", "nvidia-smi not found; no amd-smi or rocm-smi either\n")
    assert run_part(tools, OS.FREEBSD) == (69, "", "nvidia-smi not found\n")
    _stub(tools, "nvidia-smi", 'case "$1" in -q) echo "-q must not run"; exit 1;; esac\n'
                               'echo "pid, gpu_uuid, used_gpu_memory [MiB]"\n')
    rc, out, _ = run_part(tools)
    assert (rc, out) == (0, "pid, gpu_uuid, used_gpu_memory [MiB]\n")
    assert not (tools.parent / "ps.args").exists() and len(parse(out)) == 0
    _stub(tools, "nvidia-smi", "echo 'No devices were found'; exit 6\n")
    assert run_part(tools) == (69, "", "nvidia-smi failed: No devices were found; "
                                       "no amd-smi or rocm-smi either\n")


def test_amd_smi_host_and_a_host_with_both(tools: Path) -> None:
    amd_smi_stub(tools)
    _stub(tools, "rocm-smi", "echo rocm-smi must not run; exit 1\n")
    rc, out, _ = run_part(tools)
    assert rc == 0 and "rocm-smi must not run" not in out
    assert ps_args(tools)[-1] == "48213,48377"
    assert [(r.pid, r.user) for r in parse(out)] == [(48213, "alice"), (48377, "alice")]
    nvidia_stub(tools)
    rc, out, _ = run_part(tools)
    assert ps_args(tools)[-1] == "21180,21198,30511,48213,48377"
    assert [r.uuid[:4] for r in parse(out)] == ["GPU-"] * 3 + ["AMD-"] * 2


def test_rocm_smi_host(tools: Path) -> None:
    (tools / "doc.json").write_text(fixture("rocm-smi-showpids.json"))
    _stub(tools, "rocm-smi", f"""\
case "$*" in
  *--showpidgpus*) cat '{FIXTURES / "rocm-smi-showpidgpus.txt"}';;
  *--json*) cat '{tools / "doc.json"}';;
esac
""")
    rc, out, _ = run_part(tools)
    assert rc == 0 and ps_args(tools)[-1] == "4711,4790,5120"
    assert [(r.pid, r.uuid[:4]) for r in parse(out)] == [
        (4711, "AMD-"), (4790, "AMD-"), (4790, "PCI-")]
    (tools / "doc.json").write_text('{"card0": {"PCI Bus": "0000:04:00.0"}}')
    (tools.parent / "ps.args").unlink()
    rc, out, _ = run_part(tools)  # no process: neither --showpidgpus nor ps
    assert rc == 0 and len(parse(out)) == 0 and not (tools.parent / "ps.args").exists()
    assert out.endswith(f"{PIDGPUS_MARK}\n")


# -- the view, through the real store path -------------------------------------------------

T0 = dt.datetime(2026, 12, 1, 12, 0)


def _poll(run_id: int, texts: dict[str, str], host_name: str = "gpu01") -> Batch:
    probes = {"gpu": GPU, "gpu_processes": PROBE}
    part = {"gpu": "query_gpu", "gpu_processes": "smi"}
    records = {n: list(probes[n].parse(OS.LINUX, {part[n]: t})) for n, t in texts.items()}
    result = HostResult(Host(name=host_name), "ok",
                        collected_at=T0 + dt.timedelta(minutes=run_id), os=OS.LINUX,
                        probes={n: ProbeResult(n, "ok", None, r) for n, r in records.items()})
    return make_batch(run_id, [result], [probes[n] for n in texts],
                      {"run_id": run_id, "started_at": T0, "finished_at": T0, "hosts": 1})


def test_gpu_usage_by_user_view(tmp_path: Path) -> None:
    db = tmp_path / "onion.duckdb"
    mig = fixture("nvidia-compute-apps-mig.txt")
    # A database with gpu_processes alone: its view needs no other probe's table.
    store_batch(db, _poll(1, {"gpu_processes": mig}))
    gpu_text = (f"{NVIDIA_UNAVAILABLE}{NO_NVIDIA}\n{AMD_STATIC_MARK}\n"
                f"{fixture('amd-smi-static.json')}{AMD_METRIC_MARK}\n"
                f"{fixture('amd-smi-metric.json')}")
    store_batch(db, _poll(2, {"gpu_processes": amd_smi_host(nvidia=mig.partition(PS_MARK)[0],
                                                            ps=PS + mig.partition(PS_MARK)[2]),
                              "gpu": gpu_text}))
    with store.reading(db) as con:
        got = con.execute(
            'SELECT run_id, host, uuid, gpu_name, uid, "user", processes, memory_bytes, '
            "round(memory_share, 6), process_names FROM gpu_usage_by_user "
            "ORDER BY run_id, uuid, uid").fetchall()
        # The AMD rows join the gpu table of the same poll on (run_id, host, uuid).
        joined = con.execute(
            'SELECT u."user", g.utilization_pct FROM gpu_usage_by_user u JOIN gpu g '
            'USING (run_id, host, uuid) ORDER BY u."user"').fetchall()
    h100_total = 81559 * MIB
    h100 = [(H100, "NVIDIA H100 80GB HBM3", 0, "root", 1, 2296 * MIB,
             round(2296 * MIB / h100_total, 6), ["/opt/tools/memhog"]),
            (H100, "NVIDIA H100 80GB HBM3", 1001, "alice", 1, 7484 * MIB,
             round(7484 * MIB / h100_total, 6), ["./gpu_burn"]),
            (H100, "NVIDIA H100 80GB HBM3", 1002, "carol", 1, 17 * MIB,
             round(17 * MIB / h100_total, 6), ["/opt/app,v2/bin/infer"])]
    mi210 = 65520 * MIB
    assert got == [
        *[(1, "gpu01", *r) for r in h100],
        (2, "gpu01", "AMD-5d2f1a7c3b4e9a10", "AMD Instinct MI210", 1001, "alice", 1, 32 << 30,
         round((32 << 30) / mi210, 6), ["python3"]),
        (2, "gpu01", "AMD-5d2f1a7c3b4e9a10", "AMD Instinct MI210", 1003, "dave", 1, 8 << 30,
         round((8 << 30) / mi210, 6), []),
        *[(2, "gpu01", *r) for r in h100],
    ]
    assert joined == [("alice", 87.0), ("dave", 87.0)]


def test_gpu_usage_by_user_sums_a_users_processes(tmp_path: Path) -> None:
    db = tmp_path / "onion.duckdb"
    text = host("pid, gpu_uuid, gpu_name, used_gpu_memory [MiB]\n"
                "1, GPU-a, T4, 100\n2, GPU-a, T4, 300\n3, GPU-a, T4, [N/A]\n4, GPU-b, T4, 5\n",
                ps="PID UID USER\n1 7 ann\n2 7 ann\n3 7 ann\n4 7 ann\n")
    store_batch(db, _poll(1, {"gpu_processes": text}))
    with store.reading(db) as con:
        got = con.execute('SELECT uuid, "user", processes, memory_bytes, memory_share '
                          "FROM gpu_usage_by_user ORDER BY uuid").fetchall()
    # No -q section: the GPU's size is unknown, so is the share.
    assert got == [("GPU-a", "ann", 3, 400 * MIB, None), ("GPU-b", "ann", 1, 5 * MIB, None)]


# -- fuzz: as tests/test_fuzz_all.py does for installed probes -----------------------------

SEEDS = [fixture("nvidia-compute-apps-mig.txt"), amd_smi_host(nvidia_na=NO_NVIDIA),
         rocm_host(), amd_smi_host(nvidia=fixture("nvidia-compute-apps-mig.txt"))]
NASTY = ["NaN", "-1", "18446744073709551616", "1e400", "", "N/A", "[N/A]", "0x10", "١٢٣",
         "\x00", "9" * 40, ":", PS_MARK, Q_MARK, ROCM_MARK, AMD_PROCESS_MARK, "null", "{}",
         '{"value": -5, "unit": "B"}', "GPU 00000000:00:09.0", "PID 1 is using 9 DRM device(s):",
         NVIDIA_UNAVAILABLE]


def test_the_host_page_says_who_holds_which_gpu_at_the_newest_poll(tmp_path: Path) -> None:
    from onion.reports import fleet
    from onion.reports.render import Report

    db = tmp_path / "onion.duckdb"
    mig = fixture("nvidia-compute-apps-mig.txt")
    gpu_text = (f"{NVIDIA_UNAVAILABLE}{NO_NVIDIA}\n{AMD_STATIC_MARK}\n"
                f"{fixture('amd-smi-static.json')}{AMD_METRIC_MARK}\n"
                f"{fixture('amd-smi-metric.json')}")
    store_batch(db, _poll(1, {"gpu_processes": amd_smi_host(
        nvidia=mig.partition(PS_MARK)[0], ps=PS + mig.partition(PS_MARK)[2]), "gpu": gpu_text}))
    now = T0 + dt.timedelta(minutes=2)

    def page() -> str:
        with store.reading(db) as con:
            report = Report(con, since=dt.timedelta(days=1), now=now)
            (row,) = fleet.load(con, now - dt.timedelta(days=1))
            return report.host(row)

    html = page()
    who = html.split("<h3>Who uses them</h3>")[1].split("</section>")[0]
    assert "AMD Instinct MI210" in who and "alice" in who and "dave" in who
    assert "gpu_burn" in who and ">50 %<" in who         # alice: 32 GiB of the MI210's 64
    with store.reading(db) as con:                       # and the fleet page says it too
        overview = Report(con, since=dt.timedelta(days=1), now=now).overview()
    assert "used by alice, dave, root +1" in overview
    # A newer poll with nobody on the GPUs: nobody is shown, not the last users ever seen.
    store_batch(db, _poll(2, {"gpu_processes": host("pid, gpu_uuid, used_gpu_memory [MiB]\n",
                                                    ps=""), "gpu": gpu_text}))
    now = T0 + dt.timedelta(minutes=3)
    assert "No process on these GPUs at the newest poll." in page()
    with store.reading(db) as con:
        assert "used by" not in Report(con, since=dt.timedelta(days=1), now=now).overview()
