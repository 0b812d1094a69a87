"""Registers every command module on the app (one place to see what exists)."""

from shopwatch.cli import (
    admin_forces,
    admin_notify,
    admin_tenants,
    force,
    matching,
    submit,
    upload,
)

__all__ = [
    "admin_forces",
    "admin_notify",
    "admin_tenants",
    "force",
    "matching",
    "submit",
    "upload",
]
