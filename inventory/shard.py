"""Splitting one inventory across N pollers with no coordination: rendezvous hashing.

Each host goes to the shard with the highest score ``hash(shard, host)``; every poller
computes the same answer from the host name alone. A host's score for a shard does not
depend on N, so going from N to N + 1 pollers moves only the hosts the new shard wins
(about 1/(N + 1) of them), and never from one old shard to another.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from onion.core.errors import ConfigError
from onion.core.i18n import _

_SHAPE = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")
MAX_SHARDS = 4096


def score(shard: int, host: str) -> int:
    digest = hashlib.blake2b(f"{shard}\0{host}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


@dataclass(frozen=True, slots=True)
class Shard:
    k: int   # 1-based: shard 1 of 3 … shard 3 of 3
    n: int

    def __str__(self) -> str:
        return f"{self.k}/{self.n}"

    def owner(self, host: str) -> int:
        """The shard (1 … n) that polls this host."""
        return max(range(1, self.n + 1), key=lambda s: score(s, host))

    def owns(self, host: str) -> bool:
        return self.n == 1 or self.owner(host) == self.k


def parse(text: str, where: str = "--shard") -> Shard:
    m = _SHAPE.fullmatch(text or "")
    if m is None:
        raise ConfigError(_("{where}: K/N, shard K of N (such as 2/3), not {text}").format(
            where=where, text=repr(text)))
    k, n = int(m[1]), int(m[2])
    if not 1 <= n <= MAX_SHARDS or not 1 <= k <= n:
        raise ConfigError(_("{where}: {text}: K from 1 to N, N from 1 to {max}").format(
            where=where, text=repr(text), max=MAX_SHARDS))
    return Shard(k, n)
