"""Translations (gettext): ``_()`` marks a string for people, ``N_()`` marks one that is
translated later (a help text click keeps until it prints it).

The language is, first given first: :func:`use` (``onion --lang``), ``ONION_LANG``, then
``LC_ALL``, ``LC_MESSAGES``, ``LANG`` as POSIX orders them; ``C``, ``POSIX`` and languages
without a catalog are English, the source. Catalogs (``onion.mo``) ship in the package's
``locale`` folder. ``qps`` is a pseudo-locale made from the English at run time: every
translated string comes out between ``⟦`` and ``⟧``, so that a string that skipped
translation shows (tests/test_i18n.py reads every ``--help`` so).

Only text for people goes through here: JSON, CSV, SQL names, payloads, metric names and
log keys stay as they are in every language.

Numbers, sizes and times for people are in the language's way too: :func:`formats` (see
:mod:`onion.core.formats`: English is ISO 8601 with no grouping on purpose; other
languages are CLDR's, through Babel, imported only when such a language first formats).
"""

from __future__ import annotations

import gettext
import os
from pathlib import Path

from onion.core import formats as _formats

DOMAIN = "onion"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
SOURCE = "en"
PSEUDO = "qps"
LANGUAGES = ("en", "sv", "de")  # the source and the catalogs that ship
ENV = ("ONION_LANG", "LC_ALL", "LC_MESSAGES", "LANG")
OPEN, CLOSE = "⟦", "⟧"


class _Pseudo(gettext.NullTranslations):
    """The English, marked: what a translation would replace is plain to see."""

    def gettext(self, message: str) -> str:
        if not message or (message.startswith(OPEN) and message.endswith(CLOSE)):
            return message  # marked once only (click's help option is made translated)
        return f"{OPEN}{message}{CLOSE}"

    def ngettext(self, msgid1: str, msgid2: str, n: int) -> str:
        return self.gettext(msgid1 if n == 1 else msgid2)


def normalise(name: str | None) -> str | None:
    """``sv_SE.UTF-8`` → ``sv``; ``C``/``POSIX`` → ``en``; empty → None."""
    if not name:
        return None
    first = name.split(":")[0].strip()
    code = first.split(".")[0].split("@")[0].replace("-", "_").split("_")[0].lower()
    if not code:
        return None
    return SOURCE if code in ("c", "posix") else code


def from_environment(environ: os._Environ[str] | dict[str, str] | None = None) -> str:
    """The language the environment asks for, ``en`` when it asks for none we have."""
    env = os.environ if environ is None else environ
    for var in ENV:
        code = normalise(env.get(var))
        if code:
            return code if code in LANGUAGES or code == PSEUDO else SOURCE
    return SOURCE


def _load(code: str) -> gettext.NullTranslations:
    if code == PSEUDO:
        return _Pseudo()
    if code == SOURCE:
        return gettext.NullTranslations()
    return gettext.translation(DOMAIN, LOCALE_DIR, languages=[code], fallback=True)


_language = from_environment()
_translation = _load(_language)
_formats_in_use: _formats.Formats | None = None   # made when first asked for (Babel: lazy)


def use(name: str | None) -> str:
    """Switch to language ``name`` (``sv``, ``de_DE.UTF-8``, ``qps``; None: the
    environment's); returns the code in use. An unknown language raises ValueError."""
    global _language, _translation, _formats_in_use
    code = normalise(name) if name else from_environment()
    if code is None or (code not in LANGUAGES and code != PSEUDO):
        raise ValueError(f"{name!r}: one of {', '.join((*LANGUAGES, PSEUDO))}")
    _language, _translation, _formats_in_use = code, _load(code), None
    return code


def language() -> str:
    return _language


def _(text: str) -> str:
    """``text`` in the language in use."""
    return _translation.gettext(text)


def ngettext(singular: str, plural: str, n: int) -> str:
    return _translation.ngettext(singular, plural, n)


def formats() -> _formats.Formats:
    """How the language in use writes numbers, sizes and times (:mod:`onion.core.formats`;
    the first call in a language other than English reads its CLDR data from Babel)."""
    global _formats_in_use
    found = _formats_in_use
    if found is None:
        found = _formats_in_use = _formats.get(_language)
    return found


def decimal(text: str) -> str:
    """A number already formatted with a point (``"3.5"``, ``"1234.5"``) in the language's
    way: its decimal symbol, its group symbol from a thousand on (CLDR; English as is)."""
    return formats().decimal(text)


def N_(text: str) -> str:
    """Mark ``text`` for extraction only; it is translated where it is shown."""
    return text


__all__ = [
    "DOMAIN",
    "LANGUAGES",
    "LOCALE_DIR",
    "N_",
    "PSEUDO",
    "_",
    "decimal",
    "formats",
    "language",
    "ngettext",
    "use",
]
