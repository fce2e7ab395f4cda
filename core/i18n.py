"""Translations groundwork (gettext): ``_()`` marks a string for people.

Only the desktop view's labels go through it so far. Catalogues are looked for under the
package's ``locale`` folder (none ship yet): without one, ``_()`` returns the text as is.
"""

from __future__ import annotations

import gettext
from pathlib import Path

DOMAIN = "onion"
LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"

_translation = gettext.translation(DOMAIN, LOCALE_DIR, fallback=True)


def _(text: str) -> str:
    """``text`` in the user's language (LANGUAGE, LC_ALL, LC_MESSAGES, LANG)."""
    return _translation.gettext(text)


def ngettext(singular: str, plural: str, n: int) -> str:
    return _translation.ngettext(singular, plural, n)


__all__ = ["DOMAIN", "_", "ngettext"]
