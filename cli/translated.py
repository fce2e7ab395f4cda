"""Click in the user's language: help texts translated when they are printed, and click's
own strings (``Usage:``, ``Error:``, ``Missing argument …``) through Onion's catalog.

Click's decorators run at import, before ``--lang`` is read, and keep the help texts as
written (docstrings, ``help=``): :class:`Command` and :class:`Group` translate them as the
help is formatted, the English text being the msgid (extracted by
:mod:`onion.core.i18n_extract`). Click calls the standard library's ``gettext`` by name in
each of its modules (domain ``messages``, languages from the environment only), so
:func:`install` points those names at :mod:`onion.core.i18n` instead: ``--lang`` and the
pseudo-locale reach them too.
"""

from __future__ import annotations

import gettext
import importlib
import inspect
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

import click

from onion.core import i18n

# Click's modules that call gettext (click/*.py: ``from gettext import gettext as _``).
_CLICK_MODULES = ("core", "decorators", "exceptions", "formatting", "parser",
                  "shell_completion", "termui", "types", "utils", "_termui_impl")


def install() -> None:
    """Make click's own strings go through :mod:`onion.core.i18n` (idempotent)."""
    for name in _CLICK_MODULES:
        try:
            mod = importlib.import_module(f"click.{name}")
        except ImportError:  # a click without that module
            continue
        if getattr(mod, "_", None) is gettext.gettext:
            mod._ = i18n._  # type: ignore[attr-defined]
        if getattr(mod, "ngettext", None) is gettext.ngettext:
            mod.ngettext = i18n.ngettext  # type: ignore[attr-defined]


_HELP_OPTION = i18n.N_("Show this message and exit.")  # click's own msgid
_KEPT: weakref.WeakSet[click.Option] = weakref.WeakSet()  # help options given the msgid


def _tr(text: str | None) -> str | None:
    return i18n._(text) if text else text


@contextmanager
def _translated_params(command: click.Command, ctx: click.Context) -> Iterator[None]:
    """Each option's help in the user's language while the help is formatted."""
    saved = []
    for param in command.get_params(ctx):
        text = getattr(param, "help", None)
        if text:
            saved.append((param, text))
            param.help = _tr(text)  # type: ignore[attr-defined]
    try:
        yield
    finally:
        for param, text in saved:
            param.help = text  # type: ignore[attr-defined]


class Command(click.Command):
    """A command whose help, short help and option help are translated when shown."""

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with _translated_params(self, ctx):
            super().format_help(ctx, formatter)

    def get_help_option(self, ctx: click.Context) -> click.Option | None:
        # Click makes it once per command, its help translated then: keep the msgid, for
        # the help is translated when shown (the language may have changed meanwhile).
        option = super().get_help_option(ctx)
        if option is not None and option not in _KEPT:
            option.help = _HELP_OPTION
            _KEPT.add(option)
        return option

    def format_help_text(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        if not self.help:
            return super().format_help_text(ctx, formatter)
        text = _tr(inspect.cleandoc(self.help).partition("\f")[0]) or ""
        formatter.write_paragraph()
        with formatter.indentation():
            formatter.write_text(text)

    def get_short_help_str(self, limit: int = 45) -> str:
        if self.short_help:
            return (_tr(inspect.cleandoc(self.short_help)) or "").strip()
        if not self.help:
            return ""
        text = inspect.cleandoc(self.help).partition("\f")[0]
        if i18n.language() == i18n.PSEUDO:
            # The cut keeps its markers whole: the English cut, then marked.
            return i18n._(click.utils.make_default_short_help(text, limit))
        return click.utils.make_default_short_help(_tr(text) or "", limit)

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        if self.epilog:
            formatter.write_paragraph()
            with formatter.indentation():
                formatter.write_text(_tr(inspect.cleandoc(self.epilog)) or "")


class Group(Command, click.Group):
    """A group of translated commands; its subcommands and subgroups are so too."""

    command_class = Command
    group_class = type  # click: subgroups are of this same class



__all__ = ["Command", "Group", "install"]
