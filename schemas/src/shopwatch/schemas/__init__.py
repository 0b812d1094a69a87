"""shopwatch.schemas."""
