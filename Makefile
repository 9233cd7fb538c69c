# CX Portal: `make run` starts the portal with demo data; `make test` runs the whole suite.
# Python 3.12 or newer is required; the first one found below is used.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PYTHON ?= $(shell for c in python3.13 python3.12 python3 \
	$$HOME/.pyenv/versions/3.13*/bin/python3 $$HOME/.pyenv/versions/3.12*/bin/python3; do \
	  p=$$(command -v $$c 2>/dev/null) || continue; \
	  $$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null && { echo $$p; break; }; \
	done)

.PHONY: run test lint check setup migrate demo bench clean

$(VENV)/.installed: pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.12 or newer is required (none found on PATH)"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

setup: $(VENV)/.installed

migrate: setup
	$(PY) manage.py migrate --noinput

demo: migrate
	$(PY) manage.py seed_demo

## Start web server, Celery worker and Celery beat together on http://127.0.0.1:8000 (Ctrl-C stops all)
run: demo
	$(PY) manage.py runportal

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) manage.py makemigrations --check --dry-run
	$(PY) manage.py check

## Lint, migration check and the whole test suite (on DATABASE_URL / REDIS_URL when set)
test: lint
	$(PY) -m pytest $(PYTEST_ARGS)

## Seed PostgreSQL up to BENCH_CUSTOMERS customers (~10 interactions each) and BENCH_CASES
## cases, and measure
BENCH_CUSTOMERS ?= 1000000
BENCH_CASES ?= 500000
bench: migrate
	@case "$$DATABASE_URL" in postgres*) ;; *) echo "make bench needs DATABASE_URL=postgres://..."; exit 1;; esac
	$(PY) manage.py benchmark --scale $(BENCH_CUSTOMERS) --cases $(BENCH_CASES)

clean:
	rm -rf $(VENV) var
