"""Host patterns as Ansible writes them: ranges, `host:port`, bracketed IPv6.

    node[01:20].example.com     node01 … node20 (equal-width, zero-padded bounds)
    rack[1:9:2]-n[a:c]          steps, letters, and several ranges (cartesian product)
    db1.example.com:2222        a port after the last colon
    [2001:db8::7]:2222          IPv6 in brackets, with or without a port
    2001:db8::7                 bare IPv6: more than one colon, so no port

Errors are `ValueError` with what is wrong; callers add the file and line.
"""

from __future__ import annotations

import ipaddress
import itertools
import math
import re
import string

from onion.core.i18n import _

_RANGE = re.compile(r"\[([^\[\]]*)\]")
# The most names one pattern may stand for (and one inventory may hold).
MAX_EXPANSION = 100_000
_PORT = re.compile(r"^(.*?):(\d+)$")


def is_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text.split("%", 1)[0])
    except ValueError:
        return False
    return True


def split_port(text: str) -> tuple[str, int | None]:
    """Split `host:port`; brackets around IPv6 are removed, ranges are kept."""
    if text.startswith("["):
        end = text.find("]")
        if end > 0 and is_ipv6(text[1:end]):
            rest = text[end + 1:]
            if not rest:
                return text[1:end], None
            if rest.startswith(":") and rest[1:].isdigit():
                return text[1:end], _port(rest[1:])
            raise ValueError(_("unexpected {rest} after [{address}]").format(
                rest=repr(rest), address=text[1:end]))
    if _top_level_colons(text) != 1:  # none, or a bare IPv6 address
        return text, None
    m = _PORT.match(text)
    if not m or not m.group(1):
        raise ValueError(_("{text}: the port after ':' must be a number").format(
            text=repr(text)))
    return m.group(1), _port(m.group(2))


def _port(text: str) -> int:
    port = int(text)
    if not 0 < port < 65536:
        raise ValueError(_("port {port} is out of range 1-65535").format(port=port))
    return port


def _top_level_colons(text: str) -> int:
    depth = count = 0
    for ch in text:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        elif ch == ":" and depth == 0:
            count += 1
    return count


def has_range(text: str) -> bool:
    return any(":" in m.group(1) for m in _RANGE.finditer(text))


def expand(pattern: str) -> list[str]:
    """All names a pattern stands for, in order; a name without ranges is itself."""
    if is_ipv6(pattern):
        return [pattern]
    pieces: list[list[str]] = []
    pos = 0
    for m in _RANGE.finditer(pattern):
        if ":" not in m.group(1):
            continue
        pieces.append([pattern[pos:m.start()]])
        pieces.append(_expand_one(m.group(1)))
        pos = m.end()
    pieces.append([pattern[pos:]])
    if any("[" in p[0] or "]" in p[0] for p in pieces[::2]):
        raise ValueError(_("{pattern}: a range is written [start:end] or [start:end:step]")
                         .format(pattern=repr(pattern)))
    if math.prod(len(p) for p in pieces) > MAX_EXPANSION:
        raise ValueError(_("{pattern} stands for more than {max} hosts").format(
            pattern=repr(pattern), max=MAX_EXPANSION))
    return ["".join(parts) for parts in itertools.product(*pieces)]


def _expand_one(spec: str) -> list[str]:
    parts = spec.split(":")
    if len(parts) not in (2, 3):
        raise ValueError(_("{pattern}: a range is written [start:end] or [start:end:step]")
                         .format(pattern=f"[{spec}]"))
    beg, end = parts[0] or "0", parts[1]
    if not end:
        raise ValueError(_("[{range}]: the range has no end").format(range=spec))
    try:
        step = int(parts[2]) if len(parts) == 3 else 1
    except ValueError:
        raise ValueError(_("[{range}]: the step must be a number").format(range=spec)) \
            from None
    if step < 1:
        raise ValueError(_("[{range}]: the step must be 1 or more").format(range=spec))
    letters = string.ascii_letters
    if len(beg) == 1 and len(end) == 1 and beg in letters and end in letters:
        i, j = letters.index(beg), letters.index(end)
        if i > j:
            raise ValueError(_("[{range}]: the start comes after the end").format(range=spec))
        return list(letters[i:j + 1:step])
    if not (beg.isdigit() and end.isdigit()):
        raise ValueError(_("[{range}]: bounds must be two numbers or two letters").format(
            range=spec))
    width = len(beg) if beg.startswith("0") and len(beg) > 1 else 0
    if width and len(end) != width:
        raise ValueError(_("[{range}]: zero-padded bounds must have the same width").format(
            range=spec))
    if int(beg) > int(end):
        raise ValueError(_("[{range}]: the start comes after the end").format(range=spec))
    if (int(end) - int(beg)) // step + 1 > MAX_EXPANSION:  # counted before it is built
        raise ValueError(_("{pattern} stands for more than {max} hosts").format(
            pattern=f"[{spec}]", max=MAX_EXPANSION))
    return [str(n).zfill(width) for n in range(int(beg), int(end) + 1, step)]
