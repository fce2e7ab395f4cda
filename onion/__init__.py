"""Onion: agentless monitoring for clusters.

Installed, everything lives under this one namespace (``onion.poller``, ``onion.probes``,
``onion.reports``, ``onion.inventory`` …); the repository keeps those parts in top-level
folders of their own, mapped here by ``package-dir`` in ``pyproject.toml``.
"""
