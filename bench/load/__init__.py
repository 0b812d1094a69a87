"""The load test: N chains x M stores across K forces through all five services."""
