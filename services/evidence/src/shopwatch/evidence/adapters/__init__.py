"""Adapters: MongoDB (evidence state, custody log, reports, force tokens) and S3."""
