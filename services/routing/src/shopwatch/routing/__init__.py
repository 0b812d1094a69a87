"""shopwatch.routing."""
