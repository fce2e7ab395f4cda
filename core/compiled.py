"""The methods ``@dataclass`` writes, compiled once and kept between runs.

Each dataclass writes the source of its ``__init__``, ``__repr__``, ``__eq__`` … at
import and compiles it: about 1 ms of CPU a class. A cron poll defines some hundred
(Onion's, DuckDB's), 70–100 ms of every run. The code compiled depends on that text
alone, so it is kept, as Python keeps a module's in a ``.pyc``: in
``$XDG_CACHE_HOME/onion/compiled`` (a folder that is ours alone: code is loaded from
it), one file per Python version. A text seen before is not compiled again; what runs
is what ``exec`` of the same text would have compiled, under the same name.

Only the command line installs it (:func:`install`): a program that imports Onion's
modules keeps its own ``dataclasses`` as they are.
"""

from __future__ import annotations

import atexit
import builtins
import dataclasses
import importlib.util
import marshal
import sys
from pathlib import Path
from types import CodeType
from typing import Any

from onion.core.files import cache_dir, write_private

# Python's bytecode version: a file another Python wrote is not read.
MAGIC = importlib.util.MAGIC_NUMBER
# Texts kept at most; beyond it (versions upgraded many times) the cache starts afresh.
MAX_TEXTS = 5000
FILE = f"dataclasses.{sys.implementation.cache_tag}.marshal"


class Compiled:
    """Code objects by the source text they were compiled from."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.codes: dict[str, CodeType] = _read(path) if path else {}
        self.read = len(self.codes)

    def exec(self, source: Any, globals: Any = None, locals: Any = None) -> None:
        """``exec`` as dataclasses calls it, with the text's code compiled at most once."""
        if isinstance(source, str):
            code = self.codes.get(source)
            if code is None:
                code = self.codes[source] = compile(source, "<string>", "exec")
            source = code
        builtins.exec(source, globals, locals)  # noqa: S102  (dataclasses' own texts)

    def save(self) -> None:
        """Write the texts compiled since they were read, if any (replacing the file
        whole: two runs ending at once each leave a whole one)."""
        if self.path is None or len(self.codes) == self.read:
            return
        codes = self.codes if len(self.codes) <= MAX_TEXTS else {}
        try:
            write_private(self.path, MAGIC + marshal.dumps(codes))
        except (OSError, ValueError):
            pass  # the next run compiles again: slower, not wrong


def _read(path: Path) -> dict[str, CodeType]:
    try:
        data = path.read_bytes()
    except OSError:
        return {}
    if not data.startswith(MAGIC):
        return {}
    try:
        codes = marshal.loads(data[len(MAGIC):])  # noqa: S302  (our 0700 folder, as .pyc)
    except (EOFError, ValueError, TypeError):   # a file cut short or damaged
        return {}
    if not isinstance(codes, dict) or len(codes) > MAX_TEXTS:
        return {}
    return codes


_installed: Compiled | None = None


def install() -> Compiled:
    """From now on, dataclasses compile through the cache; it is saved at exit. Once
    per process (later calls return the same cache)."""
    global _installed
    if _installed is None:
        folder = cache_dir("compiled")
        _installed = Compiled(folder / FILE if folder else None)
        # dataclasses finds ``exec`` among its module's names before the builtins.
        dataclasses.exec = _installed.exec  # type: ignore[attr-defined]
        atexit.register(_installed.save)
    return _installed
