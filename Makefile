# Shopwatch: every set-up step lives here so a fresh machine needs only `make up` / `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

UV ?= $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
STACK := $(UV) run --frozen python -m deploy.local
STACK_ENV := .cache/local/stack.env
# Load the endpoints the local stack wrote, so tests and services find the real servers.
WITH_STACK_ENV = set -a; . $(STACK_ENV); set +a;

.PHONY: help install lint format stack-up stack-down stack-status up down test test-unit schemas-export bench bench-matching

help:
	@echo "make up      - the whole system: local stack, every service, demo data"
	@echo "make down    - stop everything make up started"
	@echo "make test    - install, start the stack if needed, run every test"
	@echo "make lint    - ruff, ruff-format --check, mypy"
	@echo "make bench   - load, intake, routing and evidence benchmarks (~15 min) -> bench/RESULTS.md"

install:
	@command -v uv >/dev/null 2>&1 || [ -x "$(UV)" ] || { echo "installing uv from PyPI..."; python3 -m pip install --quiet --user uv; }
	@$(UV) sync --frozen --all-packages

lint: install
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen mypy schemas/src runtime/src services/*/src cli/src tests bench deploy

format: install
	$(UV) run --frozen ruff format .
	$(UV) run --frozen ruff check --fix .

stack-up: install
	@$(STACK) up

stack-down:
	@$(STACK) down

stack-status:
	@$(STACK) status

up: stack-up
	@$(WITH_STACK_ENV) $(UV) run --frozen python -m deploy.local.demo prepare
	@$(WITH_STACK_ENV) $(UV) run --frozen python -m deploy.local services-up
	@$(WITH_STACK_ENV) $(UV) run --frozen python -m deploy.local.demo seed

down:
	@$(STACK) services-down || true
	@$(STACK) down

test-unit: install
	$(UV) run --frozen pytest tests/unit tests/contract

test: stack-up
	@$(WITH_STACK_ENV) $(UV) run --frozen pytest tests

# Benchmarks on the local stack, at sizes that keep the whole run to about 15 minutes; each
# writes its figures next to a baseline measured in the same run (bench/RESULTS.md and the
# files it links). Override a size with e.g. `make bench BENCH_LOAD_RATE=20`. On a machine
# shared with test runs, hold the stack lock: `flock -x /tmp/shopwatch-stack.lock make bench`.
BENCH_LOAD_SHAPE ?= --chains 4 --stores 6 --forces 4 --evidence-share 0.05
BENCH_LOAD_RATE ?= 3
BENCH_LOAD_SECONDS ?= 60
BENCH_INTAKE_ARGS ?= --single-seconds 10 --batches 4 --paced-rate 50 --paced-seconds 10 --raw-reports 5000
BENCH_ROUTING_ARGS ?= --rate 20 --seconds 15 --burst 300
# --no-write: a quick 256 MiB run must not replace the recorded 1 GiB, median-of-5 figures.
BENCH_EVIDENCE_ARGS ?= --size-mib 256 --repeat 1 --no-write
BENCH_MATCHING_ARGS ?= --profiles 1000000 --queries 2000

bench: stack-up
	@$(WITH_STACK_ENV) $(UV) run --frozen python -m bench.load $(BENCH_LOAD_SHAPE) --rate $(BENCH_LOAD_RATE) --duration $(BENCH_LOAD_SECONDS)
	@$(WITH_STACK_ENV) $(UV) run --frozen python -m bench.load $(BENCH_LOAD_SHAPE) --max --duration $(BENCH_LOAD_SECONDS)
	@$(WITH_STACK_ENV) $(UV) run --frozen python -m bench.intake.bench_intake $(BENCH_INTAKE_ARGS)
	@$(WITH_STACK_ENV) $(UV) run --frozen python bench/routing/bench_e2e.py $(BENCH_ROUTING_ARGS)
	@$(WITH_STACK_ENV) $(UV) run --frozen python bench/evidence/bench_upload.py $(BENCH_EVIDENCE_ARGS)
	@echo "results: bench/RESULTS.md (make bench-matching for the 1,000,000-profile matching run)"

# Matching at a million profiles in one process (no stack needed): ~10 minutes and ~3 GB.
bench-matching: install
	$(UV) run --frozen python bench/matching/bench_match.py $(BENCH_MATCHING_ARGS)
