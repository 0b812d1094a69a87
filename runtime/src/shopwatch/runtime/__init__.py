"""shopwatch.runtime."""
