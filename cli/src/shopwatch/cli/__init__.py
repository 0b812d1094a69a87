"""shopwatch.cli."""
