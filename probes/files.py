"""Watched files: existence, type, size, mtime, mode, owner and SHA-256 of each path
listed in the host variable ``watch_files`` (``watch_files_hash_max_bytes`` caps hashing,
64 MiB by default: a bigger file gets a NULL sha256).

The fragment never prints a path. Paths are known when the script is planned, so each
block starts with the path hex-encoded *in Python* (``P 2f6574632f686f737473``): a
``[0-9a-f]`` literal that needs no quoting in the script and decodes to exactly the
configured path, whatever it holds (spaces, quotes, ``;``, ``$()``, newlines). The path
itself reaches the shell only through ``shlex.quote``. Per path::

    P 2f6574632f686f737473                     path, hex of its UTF-8 bytes
    S 81a4 1024 1716825600 0 0 root:root       mode (Linux: hex %f; BSD: octal %Op, both
                                               with the type bits), size, mtime (epoch),
                                               uid, gid, user:group
    H 9f86d081884c7d65…                        sha256 (regular files under the cap)
    E No such file or directory                strerror of a failed stat or read

Symlinks are followed (``stat -L``): a watched config file is watched for its content.
Contents are hashed from stdin, so no tool ever echoes (or escapes) the name.
"""

from __future__ import annotations

import datetime as dt
import re
import shlex
import stat as st
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from onion.core.errors import ConfigError
from onion.probes.base import OS, ParseError, Part, Probe, Table, col, only_part, partial, to_int


@dataclass(frozen=True, slots=True, kw_only=True)
class WatchedFile:
    path: str = col("VARCHAR", key=True)
    exists: bool | None = col("BOOLEAN", default=None,
                              doc="false only when the OS said no such file")
    type: str | None = col("VARCHAR", default=None,
                           doc="file, directory, symlink, fifo, socket, char, block")
    size_bytes: int | None = col("UBIGINT", unit="B", default=None)
    mtime: dt.datetime | None = col(  # noqa: RUF009 - col() builds a dataclass field
        "TIMESTAMP", default=None, doc="last modification, UTC (naive)")
    mode: str | None = col("VARCHAR", default=None, doc="permission bits, octal: 0644, 4755")
    uid: int | None = col("UINTEGER", default=None)
    user_name: str | None = col("VARCHAR", default=None)
    gid: int | None = col("UINTEGER", default=None)
    group_name: str | None = col("VARCHAR", default=None)
    sha256: str | None = col("VARCHAR", default=None,
                             doc="regular files not larger than the hash cap")
    error: str | None = col("VARCHAR", default=None, doc="why stat or hashing failed")


DEFAULT_HASH_MAX_BYTES = 64 * 1024 * 1024
_NOT_FOUND = "No such file or directory"

# OS -> (stat command, hash command reading stdin, hash command over many files whose
# lines start with the digest, in argument order)
_TOOLS = {
    OS.LINUX: ("stat -L -c 'S %f %s %Y %u %g %U:%G' --", "sha256sum", "sha256sum --"),
    OS.FREEBSD: ("stat -L -f 'S %Op %z %m %u %g %Su:%Sg' --", "sha256 -q", "sha256 -q --"),
    OS.OPENBSD: ("stat -L -f 'S %Op %z %m %u %g %Su:%Sg' --", "sha256 -q", "sha256 -q --"),
    OS.MACOS: ("stat -L -f 'S %Op %z %m %u %g %Su:%Sg' --", "shasum -a 256",
               "shasum -a 256 --"),
    # NetBSD has no sha256(1): cksum -a, whose -n puts the digest first (stdin too),
    # not "SHA256 (file) = digest".
    OS.NETBSD: ("stat -L -f 'S %Op %z %m %u %g %Su:%Sg' --", "cksum -a SHA256 -n",
                "cksum -a SHA256 -n --"),
}


def watched_paths(host_vars: Mapping[str, Any]) -> list[str]:
    """The configured paths, de-duplicated in order; a single string is one path."""
    value = host_vars.get("watch_files") or []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not all(isinstance(p, str) for p in value):
        raise ConfigError("watch_files must be a list of paths")
    for p in value:
        if not p or "\0" in p:
            raise ConfigError(f"watch_files: not a usable path: {p!r}")
    return list(dict.fromkeys(value))


# The host pays for every process: however many paths are watched, the usual poll starts
# one stat and one hash process for all of them (builtins test, split and print). Any
# surprise (a file that vanished between the test and stat, a read error) sends that step
# back to one process per path, which also gets each path its own error message.
_HELPERS = r"""
_wf() {
  printf 'P %s\n' "$1"
  if _s=$(__STAT__ "$2" 2>&1); then
    printf '%s\n' "$_s"; _z=${_s#S * }; _z=${_z%% *}
    [ -f "$2" ] && [ "$_z" -le __CAP__ ] && _wh "$2"
  else printf 'E %s\n' "${_s##*: }"; fi
}
_wh() {
  if _h=$(__HASH1__ < "$1" 2>&1); then printf 'H %s\n' "${_h%% *}"
  else printf 'E %s\n' "${_h##*: }"; fi
}
_wl() { _l=${_S%%"$_N"*}; _S=${_S#*"$_N"}; }
_wg() { _g=${_G%%"$_N"*}; _G=${_G#*"$_N"}; _g=${_g#\\}; printf 'H %s\n' "${_g%% *}"; }
_N='
'
"""


def _fragment(os: OS, host_vars: Mapping[str, Any]) -> str:
    paths = watched_paths(host_vars)
    if not paths:
        return '_na "no watched files configured"'
    cap = host_vars.get("watch_files_hash_max_bytes", DEFAULT_HASH_MAX_BYTES)
    if isinstance(cap, bool) or not isinstance(cap, int) or cap < 0:
        raise ConfigError("watch_files_hash_max_bytes must be a byte count")
    stat_cmd, hash_one, hash_many = _TOOLS[os]
    quoted = [shlex.quote(p) for p in paths]
    hexes = [p.encode().hex() for p in paths]
    out = [_HELPERS.replace("__STAT__", stat_cmd).replace("__HASH1__", hash_one)
           .replace("__CAP__", str(cap)).strip()]
    # 1. which paths exist (builtin test)
    out.append("set --")
    out += [f"_x{i}=; [ -e {q} ] && {{ _x{i}=1; set -- \"$@\" {q}; }}"
            for i, q in enumerate(quoted)]
    # 2. one stat for all of them; exit 0 means one line per path, in order
    out.append(f'_S=; _ok=; [ $# -eq 0 ] || {{ _S=$({stat_cmd} "$@" 2>/dev/null) && _ok=1; }}')
    out.append('_S=$_S$_N; set --')
    # 3. which to hash: regular files under the cap that we may read
    for i, q in enumerate(quoted):
        out.append(
            f'_y{i}=; _l{i}=; if [ -n "$_ok" ] && [ -n "$_x{i}" ]; then _wl; _l{i}=$_l\n'
            f'  _z=${{_l#S * }}; _z=${{_z%% *}}\n'
            f'  if [ -f {q} ] && [ "$_z" -le {cap} ]; then'
            f' if [ -r {q} ]; then _y{i}=1; set -- "$@" {q}; else _y{i}=r; fi; fi\nfi')
    # 4. one hash process for all of them; exit 0 means one line per file, in order
    out.append(f'_G=; _hok=; [ $# -eq 0 ] || {{ _G=$({hash_many} "$@" 2>/dev/null) && _hok=1; }}')
    out.append("_G=$_G$_N")
    # 5. print each path's block, the same as the one-process-per-path way would
    for i, (q, h) in enumerate(zip(quoted, hexes, strict=True)):
        out.append(
            f'if [ -z "$_ok" ] || [ -z "$_x{i}" ]; then _wf {h} {q}\n'
            f"else printf 'P %s\\n%s\\n' {h} \"$_l{i}\"\n"
            f'  case $_y{i} in 1) if [ -n "$_hok" ]; then _wg; else _wh {q}; fi ;;\n'
            f"    r) printf 'E %s\\n' 'Permission denied' ;; esac\nfi")
    return "\n".join(out) + "\n"


_TYPES = {st.S_IFREG: "file", st.S_IFDIR: "directory", st.S_IFLNK: "symlink",
          st.S_IFIFO: "fifo", st.S_IFSOCK: "socket", st.S_IFCHR: "char", st.S_IFBLK: "block"}
_HEX = re.compile(r"(?:[0-9a-f]{2})+")
_SHA256 = re.compile(r"[0-9a-f]{64}")


def _parse(text: str, mode_base: int) -> Table:
    records: list[dict[str, Any]] = []
    skipped: list[str] = []
    # A line not understood costs its path's record, whole: a row with NULLs would read as
    # "deleted" in file_changes. Lines after a garbled P line belong to no known path.
    for line in text.splitlines():
        if not line:
            continue
        tag, _, rest = line.partition(" ")
        if tag == "P":
            if _HEX.fullmatch(rest):
                records.append({"path": bytes.fromhex(rest).decode("utf-8", "replace")})
            else:
                skipped.append(line)
                records.append({_LOST: True})
            continue
        if not records:
            skipped.append(line)
            continue
        rec = records[-1]
        if _LOST in rec:
            continue
        try:
            _line(rec, tag, rest, line, mode_base)
        except (ParseError, ValueError, OverflowError, OSError):  # OSError: a huge mtime
            skipped.append(line)
            rec[_LOST] = True
    return partial(WatchedFile, [WatchedFile(**rec) for rec in records if _LOST not in rec],
                   skipped)


_LOST = "_lost"  # marks a record left out


def _line(rec: dict[str, Any], tag: str, rest: str, line: str, mode_base: int) -> None:
    """One S, H or E line of a path's block, into its record."""
    if tag == "S" and "exists" not in rec:
        words = rest.split(" ", 5)
        if len(words) != 6 or ":" not in words[5]:
            raise ParseError("not sure how to interpret stat line", line)
        try:
            raw_mode = int(words[0], mode_base)
        except ValueError:
            raise ParseError("not a file mode", line) from None
        mtime = to_int(words[2], "mtime", line)
        user, _, group = words[5].rpartition(":")
        rec.update(
            exists=True, type=_TYPES.get(st.S_IFMT(raw_mode), "other"),
            size_bytes=to_int(words[1], "size", line),
            mtime=dt.datetime.fromtimestamp(mtime, tz=dt.UTC).replace(tzinfo=None),
            mode=f"{st.S_IMODE(raw_mode):04o}", uid=to_int(words[3], "uid", line),
            gid=to_int(words[4], "gid", line), user_name=user, group_name=group)
    elif tag == "H" and rec.get("exists") and "sha256" not in rec:
        if not _SHA256.fullmatch(rest):
            raise ParseError("not a sha256", line)
        rec["sha256"] = rest
    elif tag == "E" and "error" not in rec:
        rec["error"] = rest
        if "exists" not in rec:
            rec["exists"] = False if rest == _NOT_FOUND else None
    else:
        raise ParseError("not sure how to interpret line", line)


def parse_linux(parts: Mapping[str, str]) -> Table:
    return _parse(only_part(parts, "stat"), 16)


def parse_bsd(parts: Mapping[str, str]) -> Table:
    return _parse(only_part(parts, "stat"), 8)


def _part(os: OS) -> tuple[Part, ...]:
    return (Part("stat", sh=lambda host_vars: _fragment(os, host_vars)),)


def file_changes_sql(where: str = "") -> str:
    """Each change of a watched file against the previous poll of that host that saw it;
    ``where`` (e.g. ``WHERE ts >= $since``) bounds the rows the comparison reads."""
    return _FILE_CHANGES.format(where=f"{where} " if where else "")


# How each row compares with the previous one (``prev_*``), from a CTE ``w``.
_CLASSIFY = """
SELECT run_id, host, path, ts, prev_ts,
  CASE WHEN NOT coalesce(prev_exists, false) AND exists THEN 'created'
       WHEN prev_exists AND NOT coalesce(exists, false) THEN 'deleted'
       WHEN sha256 IS DISTINCT FROM prev_sha256
         OR size_bytes IS DISTINCT FROM prev_size_bytes THEN 'content'
       WHEN mode IS DISTINCT FROM prev_mode OR uid IS DISTINCT FROM prev_uid
         OR gid IS DISTINCT FROM prev_gid THEN 'owner_or_mode'
       WHEN mtime IS DISTINCT FROM prev_mtime THEN 'touched'
  END AS change,
  prev_sha256, sha256, prev_size_bytes, size_bytes, prev_mtime, mtime, prev_mode, mode,
  prev_uid, uid, prev_gid, gid
FROM w
WHERE prev_ts IS NOT NULL AND change IS NOT NULL
"""

_FILE_CHANGES = """
WITH w AS (
  SELECT run_id, host, path, ts, exists, sha256, size_bytes, mtime, mode, uid, gid, error,
    lag(ts) OVER p AS prev_ts, lag(exists) OVER p AS prev_exists,
    lag(sha256) OVER p AS prev_sha256, lag(size_bytes) OVER p AS prev_size_bytes,
    lag(mtime) OVER p AS prev_mtime, lag(mode) OVER p AS prev_mode,
    lag(uid) OVER p AS prev_uid, lag(gid) OVER p AS prev_gid
  FROM files {where}WINDOW p AS (PARTITION BY host, path ORDER BY ts)
)""" + _CLASSIFY.replace("{", "{{").replace("}", "}}")

# The previous row of each (host, path) of one poll: what its values were, as of when.
_PREV = ("arg_max({exists: f.exists, sha256: f.sha256, size_bytes: f.size_bytes, "
         "mtime: f.mtime, mode: f.mode, uid: f.uid, gid: f.gid, ts: f.ts}, f.ts) AS p")

# The same changes for one poll (``$run_id``) alone, each row against the latest earlier
# row of its host and path since ``$since``: what file_changes_sql("WHERE ts >= $since")
# says of that poll. The window function read every row since $since on every poll (half
# a second at 50 hosts x 2 days). Most previous rows are within the hour before the poll,
# which a scan bounded by a constant reads cheaply (zone maps, Parquet statistics); only
# the paths with no row there are looked up further back. Rows of one path with equal
# ts (never two polls) are no earlier row of each other here; lag() took one at random.
FILE_CHANGES_OF_RUN = """
WITH cur AS (
  SELECT run_id, host, path, ts, exists, sha256, size_bytes, mtime, mode, uid, gid
  FROM files WHERE run_id = $run_id AND ts >= $since
), recent AS (
  SELECT f.host, f.path, """ + _PREV + """ FROM files f JOIN cur c USING (host, path)
  WHERE f.ts >= greatest($since, (SELECT min(ts) FROM cur) - INTERVAL 1 HOUR)
    AND f.ts < c.ts
  GROUP BY f.host, f.path
), older AS (
  SELECT f.host, f.path, """ + _PREV + """
  FROM files f JOIN (FROM cur ANTI JOIN recent USING (host, path)) c USING (host, path)
  WHERE f.ts >= $since AND f.ts < c.ts
  GROUP BY f.host, f.path
), w AS (
  SELECT c.*, l.p.ts AS prev_ts, l.p.exists AS prev_exists, l.p.sha256 AS prev_sha256,
    l.p.size_bytes AS prev_size_bytes, l.p.mtime AS prev_mtime, l.p.mode AS prev_mode,
    l.p.uid AS prev_uid, l.p.gid AS prev_gid
  FROM cur c JOIN (FROM recent UNION ALL FROM older) l USING (host, path)
)""" + _CLASSIFY
FILE_CHANGES = file_changes_sql()

PROBE = Probe(
    name="files",
    record=WatchedFile,
    description="watched files: existence, size, mtime, owner, mode, sha256",
    parts={os: _part(os) for os in _TOOLS},
    parsers={OS.LINUX: parse_linux, OS.FREEBSD: parse_bsd, OS.OPENBSD: parse_bsd,
             OS.MACOS: parse_bsd, OS.NETBSD: parse_bsd},
    views={"file_changes": FILE_CHANGES},
)
