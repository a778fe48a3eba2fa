# theodoi — two commands: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
DEMO_DB ?= theodoi.db
DEMO_SPEED ?= 3600

.PHONY: install run test lint bench bench-quick clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

install: $(STAMP)

## make run: a demo database, the scheduler, the web UI and a local mail catcher.
run: install
	@echo "==> database $(DEMO_DB) (SQLite) with demo data"
	THEODOI_STORAGE__URL=sqlite:///$(DEMO_DB) $(BIN)/theodoi init
	THEODOI_STORAGE__URL=sqlite:///$(DEMO_DB) $(BIN)/theodoi demo
	THEODOI_STORAGE__URL=sqlite:///$(DEMO_DB) $(BIN)/theodoi user demo
	@echo "==> starting theodoi: time runs $(DEMO_SPEED)x faster so deadlines pass while you watch"
	@echo "==> web UI http://127.0.0.1:8000  ·  caught mail: http://127.0.0.1:8000/mail  ·  Ctrl-C stops"
	THEODOI_STORAGE__URL=sqlite:///$(DEMO_DB) $(BIN)/theodoi run --mail-catcher --speed $(DEMO_SPEED)

## make test: lint and the layer contracts, then the whole suite (SQLite, the local PostgreSQL
## when one answers on 127.0.0.1 or THEODOI_TEST_PG_URL names one, SMTP, Chromium).
test: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	THEODOI_TEST_PG_URL="$${THEODOI_TEST_PG_URL:-$$(.ci/find-pg)}" $(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check engine storage workflows

bench: install
	$(BIN)/python -m bench.run

bench-quick: install
	$(BIN)/python -m bench.run --quick

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache test-artifacts
