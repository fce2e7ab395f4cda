"""Probes: one module per data kind (see base.py for the contract)."""
