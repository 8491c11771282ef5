# Two commands: `make run` serves Guard on SQLite with the starter rules; `make test` runs every check.
# Both create .venv (Python 3.11 or 3.12) and install Guard into it the first time, and again only
# when pyproject.toml changes.

SHELL := /bin/bash
VENV ?= .venv
BIN := $(VENV)/bin
# The install stamp is named after the pyproject.toml files' content: editing dependencies reinstalls.
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml clients/python/pyproject.toml | sha256sum | cut -c1-16)
TEST_PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
# durable-rules 2.0.28 cannot be imported on Python 3.13; 3.11 is the version it was measured on.
PYTHONS ?= python3.11 python3.12 python3
SERVE_ARGS ?=
# `make fuzz`: the long budget (CI runs 100 schemathesis examples per operation and 150 rule files).
FUZZ_EXAMPLES ?= 2000
FUZZ_RULE_EXAMPLES ?= 20000
FUZZ_SEED ?= $(shell date +%s)

.PHONY: run test fuzz install lint clean

# The audit key of `make run`, made once and kept out of git: the chain written with it verifies only with it.
AUDIT_KEY_FILE ?= .guard/audit.key

run: install $(AUDIT_KEY_FILE)
	@[ -n "$$GUARD_AUDIT_KEY" ] || export GUARD_AUDIT_KEY_FILE="$${GUARD_AUDIT_KEY_FILE:-$(AUDIT_KEY_FILE)}"; \
	  exec $(BIN)/guard serve $(SERVE_ARGS)

$(AUDIT_KEY_FILE): | $(BIN)/python
	@mkdir -p $(dir $@)
	@(umask 077; $(BIN)/python -c 'import secrets; print(secrets.token_hex(32))' > $@)
	@echo "Generated the audit key in $@ (GUARD_AUDIT_KEY_FILE); keep it: the audit log verifies only with it."

test: install lint
	$(BIN)/python -m pytest -q
	GUARD_TEST_DATABASE_URL=$(TEST_PG_URL) $(BIN)/python -m pytest -q

fuzz: install
	GUARD_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) GUARD_FUZZ_SEED=$(FUZZ_SEED) GUARD_FUZZ_RULE_EXAMPLES=$(FUZZ_RULE_EXAMPLES) \
	  $(BIN)/python -m pytest -q tests/fuzz tests/policy/test_loader_fuzz.py

lint: install
	$(BIN)/ruff check guard tests clients/python
	$(BIN)/mypy guard clients/python/guard_client
	$(BIN)/lint-imports

install: $(STAMP)

$(STAMP): pyproject.toml clients/python/pyproject.toml | $(BIN)/python
	@$(BIN)/python -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 12))' || { \
	  echo "$(VENV) uses Python $$($(BIN)/python -V); Guard needs 3.11 or 3.12: remove $(VENV) and retry" >&2; \
	  exit 1; }
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]' -e './clients/python[progress]'
	@rm -f $(VENV)/.installed-*
	@touch $@

$(BIN)/python:
	@for python in $(PYTHONS); do \
	  if $$python -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 12))' 2>/dev/null; then \
	    echo "Creating $(VENV) with $$($$python -V)"; \
	    exec $$python -m venv $(VENV); \
	  fi; \
	done; \
	echo "Guard needs Python 3.11 or 3.12 (durable-rules 2.0.28 cannot be imported on 3.13)." >&2; \
	exit 1

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
