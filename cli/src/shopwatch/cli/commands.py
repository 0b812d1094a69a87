"""Registers every command module on the app (one place to see what exists)."""

import shopwatch.cli.upload  # noqa: F401
from shopwatch.cli import admin_forces, admin_notify, admin_tenants, force, submit

__all__ = ["admin_forces", "admin_notify", "admin_tenants", "force", "submit"]
