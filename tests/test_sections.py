from poller.plan import build
from poller.sections import Splitter

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

    from probes.cpu import PROBE
    script = build([PROBE])
    out = subprocess.run(["/bin/sh", "-s"], input=script.text.encode(), capture_output=True,
                         check=True).stdout
    s = split(out, 100, marker=script.marker)
    assert s.done and s.os == "Linux"
    assert s.sections["@/proc/loadavg"].status == "0"
    assert s.sections["@/proc/stat"].text().startswith("cpu ")
