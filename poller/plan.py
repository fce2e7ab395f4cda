"""Build the one script a host runs per poll.

The script is sent on stdin to ``/bin/sh -s`` (so the user's login shell, csh included,
never parses it, and the token never shows in ``ps``). It finds the OS with ``uname -s``
and runs that OS's sections, each framed by marker lines that carry a random per-run
token, so remote output cannot forge a section::

    \\n@@onion:<token> os Linux\\n
    \\n@@onion:<token> begin cpu.stat\\n<stdout of the part>\\n@@onion:<token> end cpu.stat 0\\n

The newline before a marker belongs to the marker, so a section's text is exactly what its
command printed (a guarded section's, below, ends with a newline even where it did not).
Markers go to stderr as well, so each section's stderr is known too.
File parts (``Part(file=…)``) of all probes are read by one ``awk`` (one process instead
of one ``cat`` per file) into sections named ``@<path>``.
"""

from __future__ import annotations

import secrets
import shlex
from collections import ChainMap
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from onion.probes.base import EXIT_UNAVAILABLE, OS, Part, Probe

UNAME_TO_CASE = {OS.LINUX: "Linux", OS.FREEBSD: "FreeBSD", OS.OPENBSD: "OpenBSD",
                 OS.MACOS: "Darwin", OS.NETBSD: "NetBSD"}

_PREAMBLE = r"""
LC_ALL=C LANG=C LC_NUMERIC=C; export LC_ALL LANG LC_NUMERIC
PATH=$PATH:/usr/sbin:/sbin:/usr/bin:/bin:/usr/local/sbin:/usr/local/bin; export PATH
umask 077
M='@@onion:__TOKEN__'
_b() { printf '\n%s begin %s\n' "$M" "$1"; printf '\n%s begin %s\n' "$M" "$1" >&2; }
_e() { printf '\n%s end %s %s\n' "$M" "$1" "$2"; printf '\n%s end %s %s\n' "$M" "$1" "$2" >&2; }
_na() { printf '%s\n' "$*" >&2; exit __NA__; }
"""

# Guarded sections start first, all at once in the background, each writing to a temp
# folder named with the script's pid. A session cut mid-script (hang-up, a closed pipe,
# TERM) ends the script through its EXIT trap, which removes the folder; a folder left
# anyway (SIGKILL) belongs to a pid that is gone, and the next run removes it. In it,
# each section writes to a file: a child stuck in the kernel (df on a dead NFS mount)
# holds its file rather than the SSH channel, and a hung section costs only itself. After
# the other sections, if any guarded one is still running, ONE watchdog gives them the
# section timeout (so each has at least that long); in the usual case they are done by
# then and the host starts no watchdog at all. One awk then frames all their outputs (no
# `cat` per file).
_GUARD = r"""
for _o in "${TMPDIR:-/tmp}"/onion.*.??????; do
  _q=${_o#*/onion.}; _q=${_q%%.*}
  [ -d "$_o" ] && [ -O "$_o" ] && ! kill -0 "$_q" 2>/dev/null && rm -rf "$_o"
done
_d=$(mktemp -d "${TMPDIR:-/tmp}/onion.$$.XXXXXX") || _d=
trap '[ -n "$_d" ] && rm -rf "$_d"' EXIT
trap 'exit 129' HUP; trap 'exit 130' INT; trap 'exit 141' PIPE; trap 'exit 143' TERM
_ps= _gl= _w=
_gs() {
  [ -n "$_d" ] || return 0
  ( "$2" ) >"$_d/$1.o" 2>"$_d/$1.e" &
  eval "_p$1=$!"; _ps="$_ps $!"
}
_gw() {
  _p=; for _p in $_ps; do kill -0 $_p 2>/dev/null && break; _p=; done
  [ -n "$_p" ] || return 0
  ( trap 'kill $_s 2>/dev/null; exit 0' TERM
    sleep "$1" & _s=$!; wait $_s
    for _p in $_ps; do
      kill -0 $_p 2>/dev/null || continue
      : >"$_d/t$_p"; pkill -TERM -P $_p; kill -TERM $_p
    done
    sleep 1
    for _p in $_ps; do [ -f "$_d/t$_p" ] && { pkill -KILL -P $_p; kill -KILL $_p; }; done
  ) >/dev/null 2>&1 &
  _w=$!
}
_gc() {
  if [ -z "$_d" ]; then _b "$2"; ( "$3" ); _e "$2" $?; return; fi
  eval "_p=\$_p$1"
  wait $_p; _r=$?
  [ -f "$_d/t$_p" ] && _r=timeout
  _gl="$_gl $1 $2 $_r"
}
_gend() {
  [ -n "$_w" ] && { kill -TERM $_w 2>/dev/null; wait $_w 2>/dev/null; }; _ps=
  [ -n "$_gl" ] || return 0
  awk -v M="$M" -v D="$_d" -v G="$_gl" '
function copy(f, to,   line) {
  while ((getline line < f) > 0) { if (to) print line > to; else print line }
  close(f)
}
BEGIN {
  n = split(G, g, " ")
  for (i = 1; i + 2 <= n; i += 3) {
    printf "\n%s begin %s\n", M, g[i + 1]; printf "\n%s begin %s\n", M, g[i + 1] > "/dev/stderr"
    copy(D "/" g[i] ".o", ""); copy(D "/" g[i] ".e", "/dev/stderr")
    printf "\n%s end %s %s\n", M, g[i + 1], g[i + 2]
    printf "\n%s end %s %s\n", M, g[i + 1], g[i + 2] > "/dev/stderr"
  }
}'
  _gl=
}
"""

_AWK_FILES = r"""
set --
for _f in __FILES__; do [ -r "$_f" ] && set -- "$@" "$_f"; done
[ $# -gt 0 ] && awk -v M="$M" '
FNR == 1 { if (cur != "") printf "\n%s end @%s 0\n", M, cur; cur = FILENAME
           printf "\n%s begin @%s\n", M, cur }
{ print }
END { if (cur != "") printf "\n%s end @%s 0\n", M, cur }' "$@"
"""


@dataclass(frozen=True, slots=True)
class Script:
    text: str
    token: str

    @property
    def marker(self) -> bytes:
        return f"@@onion:{self.token}".encode()


def section_name(probe: Probe, part: Part) -> str:
    return f"@{part.file}" if part.file else f"{probe.name}.{part.name}"


def _fragment(part: Part, host_vars: Mapping[str, Any]) -> str:
    sh = part.sh(host_vars) if callable(part.sh) else part.sh
    assert sh is not None
    return sh.strip()


def _os_block(os: OS, probes: Iterable[Probe], host_vars: Mapping[str, Any],
              section_timeout: int, settings: Mapping[str, Mapping[str, Any]]
              ) -> tuple[str, bool]:
    files: list[str] = []
    defs: list[str] = []
    starts: list[str] = []
    lines: list[str] = []
    collects: list[str] = []
    n = 0
    for probe in probes:
        for part in probe.parts.get(os, ()):
            if part.file:
                if part.file not in files:
                    files.append(part.file)
                continue
            name = section_name(probe, part)
            n += 1
            fn = f"_f{n}"
            # A fragment that is a function sees the host's variables, and its probe's
            # own [probes.NAME] table as "settings".
            mine = ChainMap({"settings": settings.get(probe.name, {})}, dict(host_vars))
            defs.append(f"{fn}() {{\n{_fragment(part, mine)}\n}}")
            if part.guard:
                starts.append(f"_gs {n} {fn}")
                collects.append(f"_gc {n} {name} {fn}")
            else:
                lines.append(f"_b {name}; ( {fn} ); _e {name} $?")
    head = [*defs, *starts]
    if files:
        head.append(_AWK_FILES.replace("__FILES__", " ".join(shlex.quote(f) for f in files)))
    tail = [f"_gw {int(section_timeout)}", *collects, "_gend"] if collects else []
    return "\n".join(head + lines + tail), bool(starts)


def build(probes: Iterable[Probe], host_vars: Mapping[str, Any] | None = None, *,
          section_timeout: int = 20, token: str | None = None,
          settings: Mapping[str, Mapping[str, Any]] | None = None) -> Script:
    """The whole script for one host: every OS's sections, chosen at run time by uname."""
    probes = list(probes)
    host_vars = host_vars or {}
    token = token or secrets.token_hex(12)
    cases = []
    any_guard = False
    for os, uname in UNAME_TO_CASE.items():
        block, guarded = _os_block(os, probes, host_vars, section_timeout, settings or {})
        any_guard |= guarded
        cases.append(f"{uname})\n{block}\n;;")
    body = [
        _PREAMBLE.replace("__TOKEN__", token).replace("__NA__", str(EXIT_UNAVAILABLE)),
        _GUARD if any_guard else "",
        '_u=$(uname -s 2>/dev/null)',
        'printf \'\\n%s os %s\\n\' "$M" "$_u"',
        'case $_u in',
        *cases,
        'esac',
        'printf \'\\n%s done\\n\' "$M"',
    ]
    # One function, parsed whole before it runs: commands inside cannot read the rest
    # of the script from stdin, and stdin is /dev/null for all of them.
    text = "_onion_main() {\n" + "\n".join(body) + "\n}\n_onion_main </dev/null\n"
    return Script(text=text, token=token)
