"""Registers every command module on the app (one place to see what exists)."""
