# Two commands do all the set-up on a fresh machine (Python 3.11 + make):
#   make serve   install tracehouse with the server extra into .venv and run `tracehouse serve` (embedded store)
#   make test    install the dev tools (and Debian's chromium for the browser tests) and run the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SERVE_ARGS ?=

.PHONY: serve test lint bench install-server install-dev browser clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install-server: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[server]'

install-dev: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'

# The browser tests drive Debian's chromium through Playwright (no browser download is possible or wanted).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium missing: run 'sudo apt-get install chromium' for the browser tests"; fi; }

serve: install-server
	$(BIN)/tracehouse serve $(SERVE_ARGS)

test: install-dev browser
	$(BIN)/ruff check .
	$(BIN)/pytest -q

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/mypy sdk collector tracehouse

bench: install-dev
	$(BIN)/python tests/bench/bench_ingest.py

clean:
	rm -rf $(VENV) build *.egg-info test-artifacts
