"""A complete probe plugin: who is logged in, sessions per user.

Drop this file into a folder named by ``[plugins] paths`` and enable it
(``[probes] enable = [...]`` or leave ``enable`` empty: it is on by default). Rows land in
the table ``logins``: ``run_id, host, ts, user, sessions, ttys``.

Every OS Onion polls has ``who`` with the same columns (name, line, time, [host]):

    Linux     root     pts/0        2026-12-01 08:00 (10.1.2.3)
    FreeBSD   alice    pts/1        Dec  1 08:00     (10.1.2.3)
    macOS     bob      console      Dec  1 07:59
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

from onion.plugin import OS, ParseError, Part, Probe, col, only_part


@dataclass(frozen=True, slots=True, kw_only=True)
class Login:
    user: str = col("VARCHAR", key=True, doc="login name as who prints it")
    sessions: int = col("UINTEGER", doc="open sessions (terminals) of that user")
    ttys: str = col("VARCHAR", doc="their terminals, space-separated")


def parse(parts: Mapping[str, str]) -> list[Login]:
    """Pure: the text ``who`` printed -> one record per user."""
    text = only_part(parts, "who")
    sessions: Counter[str] = Counter()
    ttys: dict[str, list[str]] = defaultdict(list)
    for line in text.splitlines():
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) < 3:
            raise ParseError("not sure how to interpret this who line", line)
        sessions[fields[0]] += 1
        ttys[fields[0]].append(fields[1])
    return [Login(user=u, sessions=n, ttys=" ".join(ttys[u])) for u, n in sorted(sessions.items())]


WHO = [Part("who", sh="command -v who >/dev/null 2>&1 || _na 'who is not installed'; who")]

PROBE = Probe(
    name="logins",
    record=Login,
    description="users logged in, sessions per user",
    parts={os: WHO for os in OS},
    parsers={os: parse for os in OS},
)
