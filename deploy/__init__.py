"""Deployment helpers: the local stack without Docker (`deploy.local`) and the Docker image."""
