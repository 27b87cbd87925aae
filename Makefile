# Shippy: `make run` starts the whole stack, `make test` runs every test.
# Both set up everything they need (a virtual environment from uv.lock and
# the real servers) on a machine that has Python 3.11 and reaches PyPI.

SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.8
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
PY := $(VENV)/bin/python
export UV_PROJECT_ENVIRONMENT := $(abspath $(VENV))

.PHONY: help install run test docs-test lint proto bench up down clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv==$(UV_VERSION)

# psycopg's C build (the psycopg-c group in pyproject.toml) where this machine
# can compile it against its own libpq; otherwise, or if that fails, without.
SYNC := $(UV) sync --frozen --all-packages --python $(PYTHON)
$(VENV)/.synced: $(UV) uv.lock pyproject.toml $(wildcard */pyproject.toml */*/pyproject.toml)
	@if ! { command -v pg_config && command -v cc; } >/dev/null; then \
	  echo "install: psycopg's binary wheel (no pg_config or C compiler here for its C build)"; \
	  $(SYNC); \
	elif $(SYNC) --group psycopg-c; then \
	  echo "install: psycopg's C build, against this machine's libpq ($$(pg_config --version))"; \
	else \
	  echo "install: psycopg's C build failed (above); its binary wheel instead"; \
	  $(SYNC); \
	fi
	@touch $@

install: $(VENV)/.synced  ## create .venv from uv.lock (the CLIs land in .venv/bin)

run: install  ## start the whole stack (NATS, PostgreSQL, SMTP and the services)
	$(PY) -m devstack run

test: install lint  ## lint, type-check, then run every test against real servers
	$(PY) -m pytest

docs-test: install  ## the tutorial: its included code, its commands' output, its terms explained (also in make test)
	$(PY) -m pytest tests/test_docs.py tests/test_terms.py

lint: install  ## ruff on the repo, mypy (strict on shared/ and plugins/)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	MYPYPATH=plugins/mqtt/src:plugins/rabbitmq/src:plugins/etcd/src $(VENV)/bin/mypy --strict shared/micro/src shared/kit/src plugins/mqtt/src plugins/rabbitmq/src plugins/etcd/src

proto: install  ## regenerate proto/src from the .proto files
	$(PY) proto/generate.py

bench: install  ## run the benchmarks and print their table
	$(PY) -m bench

COMPOSE_KEYS := var/compose-keys
up down: export SHIPPY_JWT_PRIVATE_KEY ?= $(abspath $(COMPOSE_KEYS))/jwt-private.pem
up down: export SHIPPY_JWT_PUBLIC_KEYS ?= $(abspath $(COMPOSE_KEYS))/jwt-public.json

up: install  ## the whole stack in containers (docker compose; see README)
	@if [ ! -f "$$SHIPPY_JWT_PRIVATE_KEY" ]; then \
	  echo "make up: no signing key at $$SHIPPY_JWT_PRIVATE_KEY: making a development key pair"; \
	  mkdir -p "$$(dirname "$$SHIPPY_JWT_PRIVATE_KEY")"; \
	  $(PY) -m shippy_kit.tokens new-key --private-key "$$SHIPPY_JWT_PRIVATE_KEY" \
	    --public-keys "$$SHIPPY_JWT_PUBLIC_KEYS"; \
	  chown 10001 "$$SHIPPY_JWT_PRIVATE_KEY" 2>/dev/null || chmod 0644 "$$SHIPPY_JWT_PRIVATE_KEY"; \
	fi
	docker compose up -d --build --wait

down:  ## stop the containers; data stays in the volumes
	docker compose down

clean:  ## remove var/ (data of `make run`) and the virtual environments
	rm -rf var $(VENV) $(TOOLS)
