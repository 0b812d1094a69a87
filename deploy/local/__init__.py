"""The real local stack without Docker: Kafka, FerretDB, an S3 server and an SMTP sink.

Run `python -m deploy.local up|down|status|logs|env|services-up|services-down`.
Everything is installed into the ignored `.cache/local/` folder at the repository root.
"""
