"""The desktop view's ``_()``: the one in :mod:`onion.core.i18n`."""

from onion.core.i18n import _, ngettext

__all__ = ["_", "ngettext"]
