"""shopwatch.evidence."""
