# The two commands of the README: `make demo` and `make test`.  Everything else is a step of those.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
DEMO_PERSONS ?= 20000
PYTEST_ARGS ?=

.PHONY: setup system-deps demo test clean

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required"'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

setup: system-deps $(VENV)/.installed ## install the pipeline environment

system-deps: ## Debian packages: a Java runtime for the JVM Spark portability test
	@command -v java >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless; }

demo: setup ## generate a sample province, run the pipeline
	$(VENV)/bin/yibao generate --persons $(DEMO_PERSONS) --batches 2
	$(VENV)/bin/yibao ingest
	$(VENV)/bin/yibao tables

test: setup ## run the test suite
	$(PY) -m pytest -q $(PYTEST_ARGS)

clean: ## remove generated data and the warehouse (not the environment)
	rm -rf var
