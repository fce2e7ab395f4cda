"""core/compiled.py: dataclass methods compiled once, kept between runs, loaded only
from a folder that is ours alone."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

from onion.core import compiled

# A run: install the cache, define dataclasses of every kind, use them, say what the cache
# held before and after.
RUN = r"""
import dataclasses, json, sys
from onion.core import compiled
c = compiled.install()
before = len(c.codes)
compiled_now = []
real_compile = compile
import builtins
def counting(*a, **k):
    compiled_now.append(1)
    return real_compile(*a, **k)
builtins.compile = counting

@dataclasses.dataclass(frozen=True, slots=True)
class Point:
    x: int
    y: int = 2

@dataclasses.dataclass(order=True)
class Row:
    name: str
    tags: list = dataclasses.field(default_factory=list)

p = Point(1)
try:
    p.x = 5
    frozen = False
except dataclasses.FrozenInstanceError:
    frozen = True
out = {"before": before, "after": len(c.codes), "compiled": len(compiled_now),
       "repr": repr(p), "eq": p == Point(1, 2), "hash": hash(p) == hash(Point(1, 2)),
       "frozen": frozen, "order": Row("a") < Row("b"), "factory": Row("a").tags == [],
       "patched": dataclasses.exec == c.exec}
print(json.dumps(out))
"""


def _run(cache: Path) -> dict:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    done = subprocess.run([sys.executable, "-c", RUN], env=env, capture_output=True,
                          text=True, check=True)
    return json.loads(done.stdout)


def _file(cache: Path) -> Path:
    return cache / "onion" / "compiled" / compiled.FILE


def test_second_run_compiles_nothing_and_behaves_the_same(tmp_path: Path) -> None:
    first = _run(tmp_path)
    assert first["compiled"] > 0 and first["after"] > first["before"]
    path = _file(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    second = _run(tmp_path)
    assert second["compiled"] == 0                 # every method came from the file
    assert second["before"] == second["after"] == first["after"]
    for key in ("repr", "eq", "hash", "frozen", "order", "factory", "patched"):
        assert second[key] == first[key], key
    assert first["repr"] == "Point(x=1, y=2)" and first["frozen"] and first["order"]


def test_damaged_or_foreign_file_is_not_read(tmp_path: Path) -> None:
    _run(tmp_path)
    path = _file(tmp_path)
    good = path.read_bytes()
    for bad in (good[: len(good) // 2],                       # cut short
                b"\0\0\0\0" + good[len(compiled.MAGIC):],      # another Python's
                compiled.MAGIC + b"not marshal at all"):
        path.write_bytes(bad)
        again = _run(tmp_path)
        assert again["before"] == 0 and again["compiled"] > 0
        assert again["repr"] == "Point(x=1, y=2)"
        assert path.read_bytes().startswith(compiled.MAGIC)    # written whole again


def test_folder_not_ours_alone_is_not_used(tmp_path: Path) -> None:
    folder = tmp_path / "onion" / "compiled"
    folder.mkdir(parents=True)
    folder.chmod(0o777)
    (tmp_path / "onion").chmod(0o700)
    run = _run(tmp_path)
    assert run["before"] == 0 and run["repr"] == "Point(x=1, y=2)"
    assert not _file(tmp_path).exists()             # nothing loaded, nothing written


def test_without_a_cache_folder_it_still_compiles(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder would be")
    run = _run(blocker)
    assert run["before"] == 0 and run["patched"] and run["frozen"]


def test_a_full_cache_starts_afresh(tmp_path: Path) -> None:
    c = compiled.Compiled(tmp_path / "x.marshal")
    for i in range(compiled.MAX_TEXTS + 1):
        c.codes[f"v{i} = {i}"] = compile(f"v{i} = {i}", "<string>", "exec")
    c.save()
    assert compiled.Compiled(tmp_path / "x.marshal").codes == {}
