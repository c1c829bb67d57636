# Helserom Gateway — the two commands: `make run` and `make test`.
# Both set up what is missing (Debian packages, uv, the locked venv) on a fresh Debian machine.

SHELL := /bin/bash
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
VENV := .venv
BIN := $(VENV)/bin
CONFIG ?= config/rooms/sim.toml
# 1: `make run` starts a live session and prints a single-use "Specialist link: …" (0: none).
DEMO_SESSION ?= 1
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)
APT_RUN := chromium dbus-daemon
APT_TEST := chromium fonts-dejavu-core dbus-daemon mosquitto coturn systemd util-linux iproute2
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test lint typecheck imports pytest bench setup apt-test clean help
help:
	@echo "make run    set up and start the gateway on the simulated room ($(CONFIG))"
	@echo "make test   set up and run ruff, mypy --strict, import-linter and pytest"
	@echo "make bench  run the benchmarks under bench/"

run: $(BIN)/helserom
	$(BIN)/helserom run --config $(CONFIG) $(if $(filter 1,$(DEMO_SESSION)),--demo-session)

test: apt-test $(BIN)/helserom lint typecheck imports pytest

setup: $(BIN)/helserom

# uv from PyPI, in a tools venv, when the machine has none (no installer script downloads).
.tools/bin/uv:
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python >= 3.11 needed"'
	@$(PYTHON) -m venv .tools 2>/dev/null || { $(SUDO) apt-get update -qq && \
		$(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv && \
		$(PYTHON) -m venv .tools; }
	.tools/bin/pip install --quiet uv

$(BIN)/helserom: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --python $(PYTHON)
	@touch $@

apt-test:
	@missing=""; for p in $(APT_TEST); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "installing Debian packages:$$missing"; \
		$(SUDO) apt-get update -qq && \
		$(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; fi

lint: $(BIN)/helserom
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(BIN)/helserom
	$(BIN)/mypy

imports: $(BIN)/helserom
	$(BIN)/lint-imports

pytest: $(BIN)/helserom
	$(BIN)/pytest -q -ra

bench: $(BIN)/helserom
	@for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .tools .pytest_cache .mypy_cache .ruff_cache var
