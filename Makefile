# Shopwatch: every set-up step lives here so a fresh machine needs only `make up` / `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

UV ?= $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
STACK := $(UV) run --frozen python -m deploy.local
STACK_ENV := .cache/local/stack.env
# Load the endpoints the local stack wrote, so tests and services find the real servers.
WITH_STACK_ENV = set -a; . $(STACK_ENV); set +a;

.PHONY: help install lint format stack-up stack-down stack-status up down test test-unit schemas-export

help:
	@echo "make up      - the whole system: local stack, every service, demo data"
	@echo "make down    - stop everything make up started"
	@echo "make test    - install, start the stack if needed, run every test"
	@echo "make lint    - ruff, ruff-format --check, mypy"

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
