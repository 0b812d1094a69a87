"""shopwatch.notify."""
