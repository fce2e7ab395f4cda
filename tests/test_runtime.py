"""core/runtime.py: the linker-cache lookups give ctypes' own answers, for less."""

from __future__ import annotations

import ctypes.util
import os
import subprocess
import sys

import pytest

from onion.core import runtime

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or not os.access(runtime.LDCONFIG, os.X_OK),
    reason="the linker-cache lookup is for Linux with glibc's ldconfig")

# Present on every Debian (c, m, ssl, crypto), asyncssh's own (nettle, oqs, liboqs), and
# names nobody has.
NAMES = ["c", "m", "ssl", "crypto", "nettle", "oqs", "liboqs", "onion-no-such-library"]


def test_same_answers_as_ctypes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LD_LIBRARY_PATH", raising=False)
    want = {n: ctypes.util.find_library(n) for n in NAMES}
    original = ctypes.util.find_library
    with runtime.from_linker_cache():
        assert ctypes.util.find_library is not original
        got = {n: ctypes.util.find_library(n) for n in NAMES}
    assert ctypes.util.find_library is original
    assert got == want
    assert got["c"] and got["c"].startswith("libc.so")


def test_one_ldconfig_and_no_compiler_for_a_missing_library(tmp_path, monkeypatch) -> None:
    """The whole point: one ldconfig for every question, and no gcc or ld for a name
    that is not installed. Counted by a wrapper ldconfig that logs each call."""
    log = tmp_path / "calls"
    wrapper = tmp_path / "ldconfig"
    wrapper.write_text(f"#!/bin/sh\necho call >> {log}\nexec {runtime.LDCONFIG} \"$@\"\n")
    wrapper.chmod(0o700)
    monkeypatch.setattr(runtime, "LDCONFIG", str(wrapper))
    monkeypatch.delenv("LD_LIBRARY_PATH", raising=False)
    called: list[str] = []
    monkeypatch.setattr(ctypes.util, "find_library", lambda n: called.append(n))
    with runtime.from_linker_cache():
        for name in NAMES:
            ctypes.util.find_library(name)
            ctypes.util.find_library(name)
    assert log.read_text().count("call") == 1
    assert called == []             # ctypes' own lookup (gcc, ld) never ran


def test_ld_library_path_asks_ctypes(monkeypatch: pytest.MonkeyPatch) -> None:
    """With LD_LIBRARY_PATH, a library outside the cache may still load: ctypes decides."""
    monkeypatch.setenv("LD_LIBRARY_PATH", "/nonexistent")
    called: list[str] = []
    monkeypatch.setattr(ctypes.util, "find_library", lambda n: called.append(n) or "libx.so")
    with runtime.from_linker_cache():
        assert ctypes.util.find_library("onion-no-such-library") == "libx.so"
        assert ctypes.util.find_library("c").startswith("libc.so")   # in the cache
    assert called == ["onion-no-such-library"]


def test_a_poll_runs_no_compiler(tmp_path) -> None:
    """Importing the poll verb (asyncssh with it) starts ldconfig once and no gcc."""
    trace = subprocess.run(["strace", "-V"], capture_output=True)
    if trace.returncode != 0:
        pytest.skip("strace is not installed")
    out = tmp_path / "trace"
    code = "from onion.cli import main; main._import_verb('onion.cli.poll')"
    subprocess.run(["strace", "-f", "-qq", "-e", "trace=execve", "-o", str(out),
                    sys.executable, "-c", code], check=True)
    ran = [line for line in out.read_text().splitlines()
           if "execve(" in line and "ENOENT" not in line]
    assert not [r for r in ran if "gcc" in r or "/ld\"" in r or "collect2" in r], ran
    assert len([r for r in ran if "ldconfig" in r]) == 1, ran
