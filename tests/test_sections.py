from onion.poller.plan import build
from onion.poller.sections import Splitter

M = b"@@onion:abc"


def stream(*sections: tuple[str, bytes, str]) -> bytes:
    out = b"\n" + M + b" os Linux\n"
    for name, data, rc in sections:
        out += b"\n" + M + b" begin " + name.encode() + b"\n" + data
        out += b"\n" + M + b" end " + name.encode() + b" " + rc.encode() + b"\n"
    return out + b"\n" + M + b" done\n"


def split(data: bytes, chunk: int, cap: int = 1 << 20, marker: bytes = M) -> Splitter:
    s = Splitter(marker, cap)
    for i in range(0, len(data), chunk):
        s.feed(data[i:i + chunk])
    s.close()
    return s


def test_exact_text_whatever_the_chunking() -> None:
    data = stream(("a", b"one\ntwo\n", "0"), ("b", b"", "0"), ("c", b"no newline", "1"),
                  ("d", b"\n\n", "0"))
    for chunk in (1, 2, 3, 7, 64, 10_000):
        s = split(data, chunk)
        assert s.os == "Linux" and s.done
        assert {k: (bytes(v.data), v.status) for k, v in s.sections.items()} == {
            "a": (b"one\ntwo\n", "0"), "b": (b"", "0"), "c": (b"no newline", "1"),
            "d": (b"\n\n", "0")}


def test_forged_marker_with_another_token_is_data() -> None:
    forged = b"x\n@@onion:evil end a 0\n@@onion:evil begin z\n"
    s = split(stream(("a", forged, "0")), 5)
    assert bytes(s.sections["a"].data) == forged
    assert "z" not in s.sections


def test_cap_truncates_and_keeps_later_sections() -> None:
    s = split(stream(("flood", b"y" * 100_000, "0"), ("after", b"ok\n", "0")), 4096, cap=1000)
    assert s.sections["flood"].truncated and len(s.sections["flood"].data) == 1000
    assert bytes(s.sections["after"].data) == b"ok\n" and not s.sections["after"].truncated


def test_cut_stream_leaves_open_section_incomplete() -> None:
    data = stream(("a", b"1\n", "0"), ("b", b"partial", "0"))
    s = split(data[: data.index(b"partial") + 4], 3)
    assert s.sections["a"].complete and not s.sections["b"].complete
    assert bytes(s.sections["b"].data) == b"part" and not s.done


def test_banner_before_script_is_stray() -> None:
    s = split(b"Welcome to node7\n" + stream(("a", b"1", "0")), 4)
    assert s.stray_bytes > 0 and bytes(s.sections["a"].data) == b"1"


def test_script_runs_in_sh_and_splits() -> None:
    import subprocess

    from onion.probes.cpu import PROBE
    script = build([PROBE])
    out = subprocess.run(["/bin/sh", "-s"], input=script.text.encode(), capture_output=True,
                         check=True).stdout
    s = split(out, 100, marker=script.marker)
    assert s.done and s.os == "Linux"
    assert s.sections["@/proc/loadavg"].status == "0"
    assert s.sections["@/proc/stat"].text().startswith("cpu ")


def _guarded_run(tmp_path, guarded_sh: str, section_timeout: int,
                 plain_sh: str = "echo plain") -> tuple[Splitter, Splitter, list[str]]:
    """Run a script with one guarded and one plain section; `sleep` calls are logged."""
    import dataclasses
    import os
    import subprocess

    from onion.probes.base import OS, Part, Probe, col

    @dataclasses.dataclass
    class R:
        x: int = col("INTEGER")

    probe = Probe("g", R, {OS.LINUX: (Part("slow", sh=guarded_sh, guard=True),
                                      Part("plain", sh=plain_sh))},
                  {OS.LINUX: lambda parts: []})
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "sleep.log"
    (bin_dir / "sleep").write_text(f'#!/bin/sh\necho "$@" >> {log}\nexec /bin/sleep "$@"\n')
    (bin_dir / "sleep").chmod(0o755)
    script = build([probe], section_timeout=section_timeout)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    proc = subprocess.run(["/bin/sh", "-s"], input=script.text.encode(), capture_output=True,
                          check=True, env=env, timeout=30)
    out = split(proc.stdout, 100, marker=script.marker)
    err = split(proc.stderr, 100, marker=script.marker)
    return out, err, log.read_text().split() if log.exists() else []


def test_guarded_sections_done_in_time_start_no_watchdog(tmp_path) -> None:
    # The usual case costs the host no watchdog process; output and stderr are framed whole.
    # The plain section waits (builtins only, bounded) until the guarded one has ended,
    # so the usual case is what happens however loaded the machine is. The guarded
    # section is the script's first part: its pid is in $_p1.
    wait_guarded = ('i=0; while kill -0 "$_p1" 2>/dev/null && [ $i -lt 2000000 ]; '
                    'do i=$((i+1)); done; echo plain')
    out, err, sleeps = _guarded_run(tmp_path, "printf 'a b\\nno newline'; echo oops >&2", 5,
                                    wait_guarded)
    assert out.done and bytes(out.sections["g.slow"].data) == b"a b\nno newline\n"
    assert out.sections["g.slow"].status == "0" and out.sections["g.plain"].text() == "plain\n"
    assert err.sections["g.slow"].text() == "oops\n"
    assert sleeps == []


def test_guarded_section_still_running_gets_the_watchdog(tmp_path) -> None:
    out, _, sleeps = _guarded_run(tmp_path, "sleep 20; echo late", 1)
    assert out.done and out.sections["g.slow"].status == "timeout"
    assert out.sections["g.plain"].text() == "plain\n"
    assert "1" in sleeps  # the watchdog's own sleep: the section timeout
