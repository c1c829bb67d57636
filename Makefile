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

.PHONY: run test lint typecheck imports pytest bench setup apt-test clean help install \
	install-files install-venv install-users install-enable units-check
help:
	@echo "make run    set up and start the gateway on the simulated room ($(CONFIG))"
	@echo "make test   set up and run ruff, mypy --strict, import-linter and pytest"
	@echo "make bench  run the benchmarks under bench/"
	@echo "make install [DESTDIR=dir] [PREFIX=/opt/helserom]  install as a systemd service"

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

# ---- make install: Debian bookworm / Raspberry Pi OS (docs/deployment.md) ----------------------
# A system user, a venv under $(PREFIX), config in /etc/helserom, units/udev/tmpfiles/sysusers/
# D-Bus policy installed and enabled. With DESTDIR only the tree is laid out (no users, no
# systemctl). INSTALL_VENV=0 skips the venv (the image recipe builds it inside the image).
PREFIX ?= /opt/helserom
DESTDIR ?=
INSTALL_VENV ?= 1
SYSCONF := $(DESTDIR)/etc
UNITDIR := $(DESTDIR)/etc/systemd/system
APP_SOURCES := gateway drivers webrtc hardware-sim config docs pyproject.toml uv.lock README.md

install: install-files install-venv install-users install-enable

# The offline unit checks alone (also part of `make test`): verify without warnings, exposure <= 2.5.
units-check: $(BIN)/helserom
	$(BIN)/pytest -q tests/deploy/test_units.py tests/deploy/test_mdwe.py

install-files:
	install -d -m 0755 $(DESTDIR)$(PREFIX)/app $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/docs
	tar -C . --exclude='__pycache__' --exclude='*.pyc' -cf - $(APP_SOURCES) | \
		tar -C $(DESTDIR)$(PREFIX)/app -xf -
	cp -r docs/. $(DESTDIR)$(PREFIX)/docs/
	install -m 0755 systemd/helserom-kiosk $(DESTDIR)$(PREFIX)/bin/helserom-kiosk
	install -d -m 0750 $(SYSCONF)/helserom
	install -d -m 0700 $(SYSCONF)/helserom/credentials
	@if [ -e $(SYSCONF)/helserom/gateway.toml ]; then echo "keeping $(SYSCONF)/helserom/gateway.toml"; \
	else install -m 0640 config/gateway.toml $(SYSCONF)/helserom/gateway.toml; fi
	install -D -m 0644 systemd/helserom-gateway.service $(UNITDIR)/helserom-gateway.service
	install -D -m 0644 systemd/helserom-kiosk.service $(UNITDIR)/helserom-kiosk.service
	install -D -m 0644 systemd/70-helserom.rules $(SYSCONF)/udev/rules.d/70-helserom.rules
	install -D -m 0644 systemd/helserom-dbus.conf $(SYSCONF)/dbus-1/system.d/helserom.conf
	install -D -m 0644 systemd/helserom-tmpfiles.conf $(DESTDIR)/usr/lib/tmpfiles.d/helserom.conf
	install -D -m 0644 systemd/helserom-sysusers.conf $(DESTDIR)/usr/lib/sysusers.d/helserom.conf

# The venv is built where it will live (uv --relocatable), from the locked versions, no dev tools.
install-venv: | $(UV)
	@if [ "$(INSTALL_VENV)" = 1 ]; then \
		$(UV) venv --relocatable --python $(PYTHON) $(DESTDIR)$(PREFIX)/.venv && \
		$(UV) export --frozen --no-dev --no-hashes --no-emit-project -o $(DESTDIR)$(PREFIX)/requirements.txt && \
		VIRTUAL_ENV=$(DESTDIR)$(PREFIX)/.venv $(UV) pip install --link-mode=copy \
			-r $(DESTDIR)$(PREFIX)/requirements.txt && \
		VIRTUAL_ENV=$(DESTDIR)$(PREFIX)/.venv $(UV) pip install --link-mode=copy --no-deps \
			$(DESTDIR)$(PREFIX)/app; \
	else echo "INSTALL_VENV=0: no venv built"; fi

install-users:
	@if [ -n "$(DESTDIR)" ]; then echo "DESTDIR set: users are made by sysusers in the image"; \
	elif command -v systemd-sysusers >/dev/null; then $(SUDO) systemd-sysusers helserom.conf; \
	else getent passwd helserom >/dev/null || $(SUDO) useradd --system --home /var/lib/helserom \
		--shell /usr/sbin/nologin --groups dialout,bluetooth,video helserom; fi

install-enable:
	@if [ -n "$(DESTDIR)" ]; then echo "DESTDIR set: units not enabled"; else \
		$(SUDO) systemd-tmpfiles --create helserom.conf && \
		$(SUDO) udevadm control --reload && $(SUDO) udevadm trigger --subsystem-match=tty && \
		$(SUDO) systemctl daemon-reload && \
		$(SUDO) systemctl enable --now helserom-gateway.service && \
		$(SUDO) systemctl enable helserom-kiosk.service; fi
