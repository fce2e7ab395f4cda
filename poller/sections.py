"""Split a host's output stream into sections, incrementally and with bounded memory.

Only a line of the form ``\\n@@onion:<token> …`` is a marker (see poller.plan); the
newline before it belongs to the marker. Bytes a section prints beyond ``section_cap``
are dropped and the section is marked truncated; nothing is held beyond that.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class Section:
    name: str
    data: bytearray = field(default_factory=bytearray)
    status: str | None = None       # exit status as printed ("0", "69", "timeout"); None: no end
    truncated: bool = False

    @property
    def complete(self) -> bool:
        return self.status is not None

    def text(self) -> str:
        # Remote output is untrusted bytes: never fail on invalid UTF-8, keep it visible.
        return self.data.decode("utf-8", errors="replace")


MAX_MARKER_LINE = 4096   # our marker lines are short; a longer one is data


class Splitter:
    def __init__(self, marker: bytes, section_cap: int) -> None:
        self._nl_marker = b"\n" + marker + b" "
        self._cap = section_cap
        self._buf = bytearray()
        self._current: Section | None = None
        self.sections: dict[str, Section] = {}
        self.os: str | None = None
        self.done = False
        self.stray_bytes = 0    # output outside any section (login banners, rc-file noise)
        self._stray = bytearray()  # its first KiB, to explain a script that did not run

    def feed(self, data: bytes) -> None:
        buf = self._buf
        buf += data
        keep = len(self._nl_marker) - 1
        while True:
            idx = buf.find(self._nl_marker)
            if idx < 0:
                # Nothing that could still become a marker is held back beyond its length.
                if len(buf) > keep:
                    self._add(buf[: len(buf) - keep])
                    del buf[: len(buf) - keep]
                return
            eol = buf.find(b"\n", idx + 1, idx + MAX_MARKER_LINE + 1)
            if eol < 0:
                if idx:
                    self._add(buf[:idx])
                    del buf[:idx]
                if len(buf) > MAX_MARKER_LINE:
                    # A "marker" line longer than any of ours is data, however the bytes
                    # were chunked: decided by its length alone, never by when it arrived.
                    self._add(buf[:1])
                    del buf[:1]
                    continue
                return
            self._add(buf[:idx])
            self._control(bytes(buf[idx + len(self._nl_marker): eol]))
            del buf[: eol + 1]

    def close(self) -> None:
        """End of stream: whatever is left belongs to the open section, if any."""
        if self._buf:
            self._add(self._buf)
            self._buf.clear()

    def stray_text(self) -> str:
        return self._stray.decode("utf-8", errors="replace")

    def _add(self, data: bytes | bytearray) -> None:
        if not data:
            return
        sec = self._current
        if sec is None:
            self.stray_bytes += len(data)
            if len(self._stray) < 1024:
                self._stray += data[: 1024 - len(self._stray)]
            return
        room = self._cap - len(sec.data)
        if len(data) > room:
            sec.truncated = True
            data = data[: max(room, 0)]
        sec.data += data

    def _control(self, line: bytes) -> None:
        words = line.decode("utf-8", errors="replace").split()
        if not words:
            return
        verb, args = words[0], words[1:]
        if verb == "begin" and args:
            self._current = self.sections[args[0]] = Section(args[0])
        elif verb == "end" and len(args) >= 2 and self._current is not None:
            if self._current.name == args[0]:
                self._current.status = args[1]
            self._current = None
        elif verb == "os":
            self.os = args[0] if args else ""
        elif verb == "done":
            self.done = True
