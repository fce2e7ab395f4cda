"""The ``onion`` command line: one group, one module per verb (or verb group).

Verbs are imported when they are run, not before: ``onion --version`` and ``onion ctl``
(a client of the daemon) must start in a fraction of the time that importing DuckDB,
asyncssh and the poller takes.
"""

from __future__ import annotations

import gc
import importlib
import os
import sys
from types import ModuleType
from typing import Any

import click

# Onion does no linear algebra: numpy (imported for the store's column arrays) would
# otherwise start an OpenBLAS thread per core at import, 60 ms of CPU every cron run.
# Set before any verb imports it; a value the user set wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from onion.cli import translated
from onion.core import i18n, runtime
from onion.core import version as _version
from onion.core.i18n import N_

# verb: "module:attribute" under onion.cli
VERBS = {
    "poll": "poll:poll", "daemon": "daemon:daemon", "ctl": "ctl:ctl", "check": "check:check",
    "sql": "sql:sql", "hosts": "hosts:hosts", "parse": "parse:parse", "report": "report:report",
    "init": "init:init", "alerts": "alerts:alerts", "db": "db:db", "plugins": "plugins:plugins",
    "central": "central:central", "gui": "gui:gui",
}


class LazyGroup(translated.Group):
    """A group whose verbs are found by name and imported on first use (click's own
    pattern for lazily loaded subcommands)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # --lang before anything is said, wherever it stands among the group's options:
        # click's own errors about the rest (and --help before it) are then in it too.
        _use_language(_lang_given(args))
        return super().parse_args(ctx, args)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(VERBS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = VERBS.get(cmd_name)
        if target is None:
            return None
        module, attr = target.split(":")
        command: Any = getattr(_import_verb(f"onion.cli.{module}"), attr)
        return command


def _import_verb(name: str) -> ModuleType:
    """A verb's module, imported with the cyclic garbage collector paused, then frozen.

    A verb's imports (asyncssh, the poller) make a few hundred thousand
    objects that live as long as the process: the collector walked them again and again
    for nothing, 35 of the 50 ms it took of a cron poll's CPU. Frozen, later collections
    skip them. Only at a module's first import: a process that runs many commands (the
    tests) does not freeze, for good, the garbage it made between them.
    """
    if name in sys.modules:
        return sys.modules[name]
    # Here, not at the top: ``onion --version`` defines no dataclass.
    from onion.core import compiled

    compiled.install()    # the dataclasses' methods compiled by an earlier run
    with runtime.collector_paused(), runtime.from_linker_cache():
        module = importlib.import_module(name)   # asyncssh looks up liboqs and nettle
        gc.freeze()
    return module


def _lang_given(args: list[str]) -> str | None:
    """The value of ``--lang`` among the group's own options (before the verb)."""
    for i, arg in enumerate(args):
        if arg == "--lang" and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith("--lang="):
            return arg.partition("=")[2]
        if arg in VERBS:
            break
    return None


def _use_language(name: str | None) -> None:
    translated.install()
    try:
        i18n.use(name)
    except ValueError as exc:
        i18n.use(None)
        raise click.BadParameter(str(exc), param_hint="--lang") from exc


class _Described(str):
    """The version as ``--version`` prints it, ``0.1.1 (unstable)``: the channel's word in
    the language of ``--lang``, read when it is printed (after ``--lang`` is taken)."""

    def __str__(self) -> str:
        return _version.describe(str.__str__(self))


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
# The version and its release channel (core/version.py: no third-party import, so --version
# stays fast; the channel's word in the language in use).
@click.version_option(_Described(_version.__version__), prog_name="onion",
                      message="%(prog)s %(version)s")
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help=N_("Config file for every verb (env ONION_CONFIG)."))
@click.option("--db", "db_path", type=click.Path(dir_okay=False),
              help=N_("DuckDB file for every verb (env ONION_DB)."))
@click.option("--lang", "lang", metavar="LANG", expose_value=False,
              help=N_("Language of the messages: en, sv, de (env ONION_LANG, else LC_ALL, "
                      "LC_MESSAGES, LANG). JSON and CSV output is the same in every one."))
@click.pass_context
def main(ctx: click.Context, config_path: str | None, db_path: str | None) -> None:
    """Onion: agentless monitoring over SSH into DuckDB.

    --config and --db may stand before the verb or after it (after wins).
    """
    ctx.obj = {"config": config_path, "db": db_path}
