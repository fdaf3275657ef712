# The two set-up commands: `make demo` and `make test`. Both install what is missing.
SHELL := /bin/bash
PY := .venv/bin/python
PYTEST_ARGS ?=

.PHONY: setup demo test unit bench clean

setup:
	@scripts/setup.sh

demo: setup
	@$(PY) -m neutrino.lab.demo

test: setup
	@export NEUTRINO_TEST_PG_URL="$${NEUTRINO_TEST_PG_URL:-$$(scripts/postgres.sh)}"; \
	  [ -n "$$NEUTRINO_TEST_PG_URL" ] && echo "test: PostgreSQL at $$NEUTRINO_TEST_PG_URL" \
	    || echo "test: no PostgreSQL reachable, database tests run on SQLite only"; \
	  $(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

unit: setup
	@$(PY) -m pytest -q -p no:cacheprovider -m "not dataplane and not clients" $(PYTEST_ARGS)

bench: setup
	@for b in api lab north_south firewall security_groups explain identity clients; do \
	  echo "== bench/$$b.py"; $(PY) bench/$$b.py || exit 1; done

clean:
	@.venv/bin/neutrino lab down --all 2>/dev/null || true
