"""shopwatch.matching."""
