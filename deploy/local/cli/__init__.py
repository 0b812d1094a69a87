"""Command line of the local stack."""
