# The two commands of the README: `make demo` and `make test`.  Everything else is a step of those.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
DEMO_PERSONS ?= 20000
# two workers, one test file each at a time (module fixtures build a warehouse once per file): the suite's
# engine, dbt and browser waits overlap; `make test PYTEST_ARGS=` runs it serially
PYTEST_ARGS ?= -n 2 --dist loadfile --durations=25

.PHONY: setup system-deps demo test audit clean

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required"'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

setup: system-deps $(VENV)/.installed ## install the pipeline environment

DEBS := openjdk-17-jre-headless chromium fonts-noto-cjk postgresql faketime
system-deps: ## Debian packages: Java (JVM Spark portability test), Chromium + CJK fonts (reports, dashboards), PostgreSQL (Superset metadata), faketime (scoring under another system date)
	@missing=""; for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; fi

demo: setup ## generate a sample province, run the whole pipeline, serve the dashboards
	$(VENV)/bin/yibao generate --persons $(DEMO_PERSONS) --batches 2
	$(VENV)/bin/yibao reports subscribe --recipient demo_leader --region 610000 --topic monthly
	$(VENV)/bin/yibao run
	$(VENV)/bin/yibao serve

test: setup audit ## run the supply-chain checks and the test suite
	$(PY) -m pytest -q $(PYTEST_ARGS)

CODE := yibao ingestion quality transform dashboards models orchestration reports synthetic
audit: $(VENV)/.installed ## supply chain (SECURITY.md): bandit on the code (medium+ severity and confidence fail), pip-audit on both environments
	$(PY) -m bandit -q -c pyproject.toml -r $(CODE) --severity-level medium --confidence-level medium
	$(PY) .ci/pip_audit.py

clean: ## remove generated data and the warehouse (not the environment)
	rm -rf var
