"""files: the fragment quotes hostile paths safely (run for real under sh), the framing
round-trips any path, and the parser is total."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onion.core.errors import ConfigError
from onion.probes.base import OS, ParseError, ProbeError
from onion.probes.files import PROBE, watched_paths

HOSTILE = ["with space", "new\nline", "it's; $(touch PWNED)", "`touch PWNED`", "a\"b\\c",
           "-n", "*", "semi;colon&amp|pipe", "tab\there", "ünïcødé"]


def _fragment(os_: OS, host_vars: dict) -> str:
    (part,) = PROBE.parts[os_]
    assert callable(part.sh)
    return part.sh(host_vars)


def _run(script: str, cwd: Path, path: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", "-c", '_na() { echo "NA $1"; exit 69; }\n' + script],
                          capture_output=True, text=True, cwd=cwd, check=False,
                          env={"LC_ALL": "C", "PATH": path or os.environ["PATH"]})


def test_hostile_paths_never_execute_and_round_trip(tmp_path: Path) -> None:
    paths = []
    for i, name in enumerate(HOSTILE):
        p = tmp_path / name
        p.write_text(str(i))
        paths.append(str(p))
    paths.append(str(tmp_path / "missing; rm -rf ~"))
    done = _run(_fragment(OS.LINUX, {"watch_files": paths}), tmp_path)
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "PWNED").exists()
    files = PROBE.parse(OS.LINUX, {"stat": done.stdout})
    assert [f.path for f in files] == paths
    assert all(f.exists and f.type == "file" and f.size_bytes == 1 for f in files[:-1])
    assert files[0].sha256 == "5feceb66ffc86f38d952786c6d696c79c2dbc239dd4e91b46729d73a27fb57e9"
    assert [f.sha256 for f in files[:-1]] == [
        hashlib.sha256(str(i).encode()).hexdigest() for i in range(len(HOSTILE))]
    assert (files[-1].exists, files[-1].error) == (False, "No such file or directory")


def _logging_tools(tmp_path: Path, stat_fails_for_many: bool = False) -> tuple[str, Path]:
    """A PATH whose stat and sha256sum log each call's argument count first."""
    bin_dir, log = tmp_path / "bin", tmp_path / "calls.log"
    bin_dir.mkdir()
    for tool in ("stat", "sha256sum"):
        real = shutil.which(tool)
        fail = ('[ $# -gt 5 ] && { echo "stat: cannot statx: Input/output error" >&2; exit 1; }'
                if tool == "stat" and stat_fails_for_many else "")
        (bin_dir / tool).write_text(f'#!/bin/sh\necho "{tool} $#" >> {log}\n{fail}\n'
                                    f'exec {real} "$@"\n')
        (bin_dir / tool).chmod(0o755)
    return f"{bin_dir}:{os.environ['PATH']}", log


def _watch_set(tmp_path: Path) -> tuple[list[str], list[str]]:
    names = [f"f{i}" for i in range(8)]
    for i, n in enumerate(names):
        (tmp_path / n).write_text(str(i))
    (tmp_path / "locked").write_text("x")
    (tmp_path / "locked").chmod(0)
    paths = [str(tmp_path / n) for n in [*names, "locked", "gone"]] + [str(tmp_path)]
    want = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(8)]
    return paths, want


def test_one_stat_and_one_hash_process_for_all_paths(tmp_path: Path) -> None:
    paths, want = _watch_set(tmp_path)
    path, log = _logging_tools(tmp_path)
    done = _run(_fragment(OS.LINUX, {"watch_files": paths}), tmp_path, path)
    files = PROBE.parse(OS.LINUX, {"stat": done.stdout})
    assert [f.sha256 for f in files[:8]] == want
    calls = log.read_text().split("\n")
    # the batch, then one stat for the reason the missing path is missing
    assert calls[:3] == ["stat 14", "sha256sum 9" if os.geteuid() else "sha256sum 10",
                         "stat 5"]
    locked, gone, folder = files[8:]
    assert locked.sha256 is None if os.geteuid() else locked.sha256 is not None
    assert (locked.error == "Permission denied") == bool(os.geteuid())
    assert (gone.exists, gone.error) == (False, "No such file or directory")
    assert (folder.type, folder.sha256, folder.error) == ("directory", None, None)


def test_a_failed_batch_falls_back_to_one_path_at_a_time(tmp_path: Path) -> None:
    paths, _ = _watch_set(tmp_path)
    fast = _run(_fragment(OS.LINUX, {"watch_files": paths}), tmp_path)
    path, log = _logging_tools(tmp_path, stat_fails_for_many=True)
    slow = _run(_fragment(OS.LINUX, {"watch_files": paths}), tmp_path, path)
    assert slow.stdout == fast.stdout  # the same blocks, however they were made
    assert log.read_text().count("stat 5") == len(paths)


def test_hash_cap_and_directories(tmp_path: Path) -> None:
    (tmp_path / "big").write_bytes(b"\0" * 100)
    host_vars = {"watch_files": [str(tmp_path / "big"), str(tmp_path)],
                 "watch_files_hash_max_bytes": 99}
    done = _run(_fragment(OS.LINUX, host_vars), tmp_path)
    big, folder = PROBE.parse(OS.LINUX, {"stat": done.stdout})
    assert (big.size_bytes, big.sha256) == (100, None)
    assert (folder.type, folder.sha256) == ("directory", None)


@pytest.mark.parametrize("os_", list(OS))
@pytest.mark.parametrize("value", [None, [], ""])
def test_nothing_to_watch_is_unavailable(os_: OS, value: object) -> None:
    assert _fragment(os_, {"watch_files": value}).startswith("_na ")


@pytest.mark.parametrize("value", [[1], ["a\0b"], {"a": 1}, [""]])
def test_bad_config(value: object) -> None:
    with pytest.raises(ConfigError):
        watched_paths({"watch_files": value})


def test_duplicates_are_dropped() -> None:
    assert watched_paths({"watch_files": ["/a", "/b", "/a"]}) == ["/a", "/b"]


def test_bsd_mode_is_octal() -> None:
    (f,) = PROBE.parse(OS.FREEBSD, {"stat": "P 2f\nS 104755 5 0 0 0 root:wheel\n"})
    assert (f.type, f.mode) == ("file", "4755")


@pytest.mark.parametrize("text", ["S 81a4 1 0 0 0 a:b\n", "P zz\n", "P 2f\nH nothex\n",
                                  "P 2f\nS 81a4 x 0 0 0 a:b\n", "P 2f\nS 81a4 1 0 0 0 ab\n"])
def test_malformed(text: str) -> None:
    with pytest.raises(ParseError):
        PROBE.parse(OS.LINUX, {"stat": text})


@given(st.text())
def test_fuzz(text: str) -> None:
    for os_ in (OS.LINUX, OS.MACOS):
        for body in (text, "P 2f\n" + text, "P 2f\nS " + text):
            try:
                PROBE.parse(os_, {"stat": body})
            except ProbeError:
                pass
