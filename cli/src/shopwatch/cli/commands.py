"""Registers every command module on the app (one place to see what exists)."""

from shopwatch.cli import admin_tenants, submit

__all__ = ["admin_tenants", "submit"]
