# The two commands of the README:
#   make book   build the book (executes every notebook on the synthetic default corpus)
#   make test   run the whole test suite (unit tests + notebooks under nbval)
# Both create a virtual environment in .venv on first use and reuse it after.
# On a machine with a CUDA GPU: make EXTRAS=gpu,book,dev,export book

SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV ?= .venv
EXTRAS ?= cpu,book,dev,export
comma := ,
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))

# Generated corpora, downloads and feature stores go here (never committed).
export SPEAKERLIB_DATA ?= $(CURDIR)/data
# Real corpora for tests, when they sit beside the project (optional).
ifneq ($(wildcard $(CURDIR)/../shared/corpora),)
export SPEAKERLIB_CORPORA ?= $(abspath $(CURDIR)/../shared/corpora)
endif
export TF_CPP_MIN_LOG_LEVEL ?= 2
export PYTHONHASHSEED ?= 0

.PHONY: help venv browser test book clean-book clean

help:
	@echo "make book   build the book into _build/html (executes the notebooks)"
	@echo "make test   run the whole test suite (pytest + nbval on the notebooks)"
	@echo "make venv   only create/update the virtual environment in $(VENV)"
	@echo "make browser  install Chromium + chromedriver (Debian, as root) for tests/test_browser.py"

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; v = sys.version_info[:2]; sys.exit(0 if v == (3, 11) else "speakerlib needs Python 3.11, found %d.%d at $(PYTHON): install python3.11 or run make PYTHON=/path/to/python3.11" % v)'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[$(EXTRAS)]"
	rm -f $(VENV)/.installed-*
	touch $@

venv: $(STAMP)

# Headless Chromium for tests/test_browser.py (the book read in a real browser).
# As root on Debian/Ubuntu it is installed here; otherwise the command is printed
# and those tests are skipped with the same hint.
CHROMIUM_PACKAGES := chromium chromium-driver
browser:
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then \
		exit 0; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing $(CHROMIUM_PACKAGES) for the browser test (about 130 MB)"; \
		start=$$(date +%s); \
		apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(CHROMIUM_PACKAGES) >/dev/null && \
		echo "installed $(CHROMIUM_PACKAGES) in $$(( $$(date +%s) - start )) s"; \
	else \
		echo "Chromium not found: tests/test_browser.py will be skipped. To run it, install it with:"; \
		echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends $(CHROMIUM_PACKAGES)"; \
	fi

test: $(STAMP) browser
	$(BIN)/python -m pytest --nbval-lax --durations=15 tests notebooks

book: $(STAMP)
	$(BIN)/jupyter-book build . --warningiserror --keep-going
	@echo "book built: open _build/html/index.html"

clean-book:
	rm -rf _build

clean: clean-book
	rm -rf $(VENV)
