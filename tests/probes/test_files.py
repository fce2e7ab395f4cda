"""files: the fragment quotes hostile paths safely (run for real under sh), the framing
round-trips any path, and the parser is total."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from poller.errors import ConfigError
from probes.base import OS, ParseError, ProbeError
from probes.files import PROBE, watched_paths

HOSTILE = ["with space", "new\nline", "it's; $(touch PWNED)", "`touch PWNED`", "a\"b\\c",
           "-n", "*", "semi;colon&amp|pipe", "tab\there", "ünïcødé"]


def _fragment(os_: OS, host_vars: dict) -> str:
    (part,) = PROBE.parts[os_]
    assert callable(part.sh)
    return part.sh(host_vars)


def _run(script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", "-c", '_na() { echo "NA $1"; exit 69; }\n' + script],
                          capture_output=True, text=True, cwd=cwd, check=False,
                          env={"LC_ALL": "C", "PATH": os.environ["PATH"]})


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
    assert (files[-1].exists, files[-1].error) == (False, "No such file or directory")


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
