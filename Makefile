# streamrec: `make run` for a local demo, `make test` for the whole suite. Both set up the
# virtualenv themselves from python3 >= 3.11 (with its venv module) and PyPI; `make test` also
# installs Debian packages (the tools target) and PyTorch (the train extra).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# Two stamps: what a worker needs (make run, bench), and on top of it the test and training
# tools. PyTorch is only in the second: a demo never downloads it.
STAMP  := $(VENV)/.installed
DEV    := $(VENV)/.installed-dev

.PHONY: install install-dev tools run test lint docs unit integration train broker bench clean grpc

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

# The gRPC API's messages from their .proto (commit the result; a test checks it is current).
grpc: install-dev
	$(BIN)/python -m grpc_tools.protoc -I. --python_out=. --pyi_out=. app/grpc/v2/inference.proto

# Throughput, latency and footprint vs a plain aiokafka loop; writes BENCHMARKS.md/.json.
# The inference API's load comes from wrk (Debian package), installed here when missing.
bench: install
	@command -v wrk >/dev/null || { apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends wrk; }
	$(BIN)/faust -A app bench

lint: install-dev
	$(BIN)/ruff check app devtools tests
	$(BIN)/ruff format --check app devtools tests
	$(BIN)/mypy
	$(BIN)/hadolint Dockerfile

# The documentation site (docs/, mkdocs.yml) into var/site; strict, so a broken link or
# anchor, or a page left out of the nav, fails it (and make test). Not --quiet: it hides the
# warnings from the count strict mode fails on (tried: a broken link then passes).
# NO_MKDOCS_2_WARNING: the theme's banner about its successor, printed on every build.
docs: install-dev
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

unit: install-dev
	$(BIN)/pytest -q tests/unit

integration: install-dev tools
	$(BIN)/pytest -q tests/integration

test: lint docs tools
	$(BIN)/pytest -q -p no:cacheprovider tests

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
