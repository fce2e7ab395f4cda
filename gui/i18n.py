"""The desktop view's ``_()``: the one in :mod:`onion.core.i18n`."""

from onion.core.i18n import N_, _, ngettext

__all__ = ["N_", "_", "ngettext"]
