# The two commands of the README:
#   make book   build the book (executes every notebook on the synthetic default corpus)
#   make test   run the whole test suite (unit tests + notebooks under nbval)
# Both create a virtual environment in .venv on first use and reuse it after.
# The environment is built with the newest of python3.13, python3.12 and python3.11 that
# runs on the machine; failing those, with python3, which must then be one of these
# versions. An existing environment keeps the Python it was made with, when that still
# runs. make PYTHON=/path/to/python chooses the interpreter instead.
# On a machine with a CUDA GPU: make EXTRAS=gpu,book,dev,export book

SHELL := /bin/bash
comma := ,
empty :=
space := $(empty) $(empty)
# The Python versions speakerlib supports: the same set as requires-python in
# pyproject.toml (tests/test_setup.py checks that the two agree).
SUPPORTED_PYTHONS := 3.11 3.12 3.13
# Tried in this order, newest first. A name found on PATH may still fail to run (a pyenv
# shim for a version that is not selected prints "command not found"), so each candidate
# is run, and the first that starts is taken. It is looked up once, when make starts.
PYTHON_CANDIDATES := python3.13 python3.12 python3.11 python3
VENV ?= .venv
# An environment already in $(VENV) keeps its Python (python3.X of its version is tried
# first), so a newer Python installed later does not make make refuse the existing one.
VENV_PYTHON := $(shell [ -x '$(VENV)/bin/python' ] && '$(VENV)/bin/python' -c \
	'import sys; print("python%d.%d" % sys.version_info[:2])' 2>/dev/null)
ifeq ($(origin PYTHON),undefined)
PYTHON := $(shell for p in $(VENV_PYTHON) $(PYTHON_CANDIDATES); do \
	if "$$p" -c 'import sys' >/dev/null 2>&1; then command -v "$$p"; break; fi; done)
endif
EXTRAS ?= cpu,book,dev,export
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

.PHONY: help venv browser test book outputs clean-book clean

help:
	@echo "make book   build the book into _build/html (executes the notebooks)"
	@echo "make test   run the whole test suite (pytest + nbval on the notebooks)"
	@echo "make outputs  after make book: write that build's outputs into notebooks/*.ipynb"
	@echo "make venv   only create/update the virtual environment in $(VENV)"
	@echo "make browser  install Chromium + chromedriver (Debian, as root) for tests/test_browser.py"

# The interpreter is checked before anything is installed: it must run, be one of
# SUPPORTED_PYTHONS, and match the Python of an environment already in $(VENV).
$(STAMP): pyproject.toml
	@if [ -z '$(PYTHON)' ]; then \
		echo "speakerlib needs Python $(subst $(space),$(comma) ,$(SUPPORTED_PYTHONS)): none of $(PYTHON_CANDIDATES) runs on this machine." \
			"Install one of those versions, or run make PYTHON=/path/to/python3.X" >&2; \
		exit 1; \
	fi
	@if ! '$(PYTHON)' -c 'import sys' >/dev/null 2>&1; then \
		echo "speakerlib: PYTHON=$(PYTHON) does not run here. Install Python $(subst $(space),$(comma) ,$(SUPPORTED_PYTHONS))," \
			"or run make PYTHON=/path/to/python3.X with an interpreter that starts" >&2; \
		exit 1; \
	fi
	@'$(PYTHON)' -c 'import sys; v = "%d.%d" % sys.version_info[:2]; ok = "$(SUPPORTED_PYTHONS)".split(); \
		sys.exit(0 if v in ok else "speakerlib needs Python %s, found Python %s at $(PYTHON): install one of those versions, or run make PYTHON=/path/to/python3.X" % (", ".join(ok), v))'
	@if [ -x '$(BIN)/python' ]; then \
		have=$$('$(BIN)/python' -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null); \
		want=$$('$(PYTHON)' -c 'import sys; print("%d.%d" % sys.version_info[:2])'); \
		if [ "$$have" != "$$want" ]; then \
			echo "speakerlib: $(VENV) holds an environment for Python $${have:-of unknown version}, but the Python chosen is $$want ($(PYTHON))." \
				"Remove it (rm -rf $(VENV)), keep it with make PYTHON=/path/to/python$$have, or build another one beside it with make VENV=DIR" >&2; \
			exit 1; \
		fi; \
	fi
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

# After make book: the outputs of that build written into notebooks/*.ipynb, to commit them.
outputs: $(STAMP)
	$(BIN)/python book/_ext/notebook_outputs.py

clean-book:
	rm -rf _build

clean: clean-book
	rm -rf $(VENV)
