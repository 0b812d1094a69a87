"""shopwatch.intake."""
