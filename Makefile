# Two commands do all the set-up on a fresh machine (Python 3.11 + make):
#   make serve   install tracehouse with the server extra into .venv and run `tracehouse serve` (embedded store)
#   make test    install the dev tools (and Debian's chromium for the browser tests) and run the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SERVE_ARGS ?=

.PHONY: serve test lint typecheck bench install-server install-dev browser clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Strict editable installs: setup.py maps the folders sdk/, collector/, ... onto tracehouse.*, and the strict mode
# lays that mapping out as a tree of links under build/, which mypy and editors can read (a lenient editable install
# is an import hook they cannot see). A new module file needs a re-install to be linked; these targets always do it.
EDITABLE := --config-settings editable_mode=strict

# `make serve` installs once, and again only when the dependencies change (a plain editable install sees new modules
# by itself); the dev install below replaces it with the strict one, so it forgets the stamp.
SERVER_STAMP := $(VENV)/.installed-server

$(SERVER_STAMP): pyproject.toml setup.py | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[server]'
	@touch $@

install-server: $(SERVER_STAMP)

install-dev: $(BIN)/python
	@rm -f $(SERVER_STAMP)
	$(BIN)/pip install --quiet -e '.[dev]' $(EDITABLE)

# The browser tests drive Debian's chromium through Playwright (no browser download is possible or wanted).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium missing: run 'sudo apt-get install chromium' for the browser tests"; fi; }

serve: install-server
	$(BIN)/tracehouse serve $(SERVE_ARGS)

test: install-dev browser typecheck
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest -q

lint: install-dev typecheck
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Type-checks the package as installed: MYPYPATH is the link tree the installed `tracehouse` is imported from
# (python -I leaves the repository's partial tracehouse/ folder off the path).
typecheck: install-dev
	@tree="$$($(BIN)/python -I -c 'import pathlib, tracehouse; print(pathlib.Path(tracehouse.__file__).parents[1])')"; \
	if [ "$$tree" = "$(CURDIR)" ]; then echo "tracehouse is not a strict editable install: run 'make install-dev'"; exit 1; fi; \
	echo "mypy -p tracehouse (MYPYPATH=$$tree)"; MYPYPATH="$$tree" $(BIN)/mypy -p tracehouse

bench: install-dev
	$(BIN)/python tests/bench/bench_ingest.py

clean:
	rm -rf $(VENV) build *.egg-info test-artifacts
