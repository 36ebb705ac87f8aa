# streamrec: `make run` for a local demo, `make test` for the whole suite. Both set up the
# virtualenv themselves (python3 >= 3.11 is all they need).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# Two stamps: what a worker needs (make run, bench), and on top of it the test and training
# tools. PyTorch is only in the second: a demo never downloads it.
STAMP  := $(VENV)/.installed
DEV    := $(VENV)/.installed-dev

.PHONY: install install-dev tools run test lint unit integration train broker bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev-broker]'
	# MovieLens-100k ships inside this wheel; its own code needs torch and is never imported.
	$(BIN)/pip install -q --no-deps recbole==1.2.1
	touch $(STAMP)

$(DEV): $(STAMP)
	$(BIN)/pip install -q -e '.[dev,train]'
	touch $(DEV)

install: $(STAMP)

install-dev: $(DEV)

# Debian programs the tests run for real: a private redis-server they can stop, promtool and
# a Prometheus server, a headless chromium (the operator page's browser test).
tools:
	@command -v redis-server >/dev/null && command -v promtool >/dev/null \
	  && command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	    --no-install-recommends redis-server prometheus chromium chromium-driver; }

run: install
	$(BIN)/faust -A app demo

broker: install
	$(BIN)/faust -A app broker

train: install-dev
	$(BIN)/faust -A app train

# Throughput, latency and footprint vs a plain aiokafka loop; writes BENCHMARKS.md/.json.
bench: install
	$(BIN)/faust -A app bench

lint: install-dev
	$(BIN)/ruff check app devtools tests
	$(BIN)/ruff format --check app devtools tests
	$(BIN)/mypy
	$(BIN)/hadolint Dockerfile

unit: install-dev
	$(BIN)/pytest -q tests/unit

integration: install-dev tools
	$(BIN)/pytest -q tests/integration

test: lint tools
	$(BIN)/pytest -q -p no:cacheprovider tests

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
