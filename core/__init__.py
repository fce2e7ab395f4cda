"""Shared vocabulary at the bottom of every layer: errors, clock, SQL quoting, sizes and
durations, statuses, the version, the config file and the plugin registry. Nothing here
imports another part of Onion."""
