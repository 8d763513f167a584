# Two entry points for a fresh machine: `make run` and `make test`. Each creates .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test check lint typecheck layers bench clean docs
.PHONY: dist smoke

# The first install takes a minute or two: say so, and let pip show each package as it comes (no --quiet).
$(STAMP): pyproject.toml
	@echo "==> setting up $(VENV): installing clerk-sync with every extra and the dev tools (first run: a minute or two)"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --progress-bar on -e '.[dev,bench]'  # bench: tests/bench start every peer too
	touch $(STAMP)
	@echo "==> $(VENV) is ready"

# Clerk's own verifier (@clerk/backend, pinned by tests/oracle/package-lock.json) for tests/test_differential.py.
ORACLE := tests/oracle
ORACLE_STAMP := $(ORACLE)/node_modules/.installed

$(ORACLE_STAMP): $(ORACLE)/package.json $(ORACLE)/package-lock.json
	@if command -v npm >/dev/null; then \
		npm ci --prefix $(ORACLE) --prefer-offline --no-audit --no-fund --loglevel=error && touch $@; \
	else echo "npm not found: tests/test_differential.py will be skipped (it fails under CI=true)"; fi

## Set up and run the reference service in development mode on http://127.0.0.1:8000 (embedded SQLite).
run: $(STAMP)
	$(BIN)/clerk-sync serve --dev

## Set up and run every test (Python, then the browser client's Node tests when present).
test: $(STAMP) $(ORACLE_STAMP)
	$(BIN)/python -m pytest
	cd examples/django_notes && ../../$(BIN)/python -m pytest  # its own run: Django settings are process-wide
	@if [ -f clients/js/package.json ]; then cd clients/js && node --test; fi

## Static checks: ruff, mypy --strict, import layering.
check: lint typecheck layers

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

layers: $(STAMP)
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

## Build the docs site into site/ (offline, --strict: a broken link or reference fails; mkdocs.yml).
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

## Build the sdist and the wheel into dist/ (PEP 517, through `build`; hatchling is the backend).
dist: $(STAMP)
	rm -rf dist
	$(BIN)/python -m build --outdir dist .

## Install the built wheel into fresh virtual environments, one per framework extra, and smoke-test each.
smoke: dist
	$(PYTHON) .ci/smoke.py dist/*.whl
