"""Thin adapters so other frameworks can use a ragft workspace (their packages are optional)."""
