"""The desktop view's ``_()``: the one in :mod:`onion.core.i18n` (and its numbers and
times, :func:`formats`)."""

from onion.core.i18n import N_, _, decimal, formats, ngettext

__all__ = ["N_", "_", "decimal", "formats", "ngettext"]
