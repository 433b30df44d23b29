# Classroom engagement analytics: the two commands a new machine needs are `make run` and
# `make test`. Everything else (virtualenv, Python packages, Debian packages) is set up on demand.
#
#   make PYTHON=/path/to/python3.11 test    use a specific interpreter
#   make PORT=8600 run                      serve the dashboard on another port
#   make TEST_WORKERS=1 test                run the tests in one process (default: 2)

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
PORT ?= 8501
DB_URL ?= sqlite:///classroom.db
# Test processes (pytest-xdist; a file's tests stay in one process, which its fixtures expect).
TEST_WORKERS ?= 2
VENV := .venv
PY := $(VENV)/bin/python
DEMO_VIDEO := assets/demo_class.mp4
# Benchmarks of other tools whose packages pin other library versions (run by hand).
BENCHMARKS_OWN_VENV := engine_peer

# OpenCV's contrib build (what mediapipe installs) is not headless: `import cv2` needs libGL and glib.
APT_RUN := libgl1 libglib2.0-0
# Tests: Debian's Chromium driven by Playwright (never `playwright install`), an Xvfb virtual
# screen for the screen-capture tests, and a font so pages render text.
# PostgreSQL: the database tests start a throwaway server of their own (tests/pg_server.py).
APT_TEST := $(APT_RUN) chromium chromium-driver xvfb fonts-liberation postgresql

export PIP_DISABLE_PIP_VERSION_CHECK := 1
export TF_CPP_MIN_LOG_LEVEL ?= 2

# mediapipe 0.10.21 and TensorFlow 2.18 ship wheels for Python 3.9-3.12; the project is tested
# on 3.11. An explicit PYTHON=... is used as given; by default python3.12 and python3 are
# fallbacks when python3.11 is missing.
ifeq ($(origin PYTHON),file)
PYTHON_CANDIDATES := $(PYTHON) python3.12 python3
else
PYTHON_CANDIDATES := $(PYTHON)
endif
BASE_PYTHON := $(shell for p in $(PYTHON_CANDIDATES); do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 12))' 2>/dev/null \
	&& { echo $$p; break; }; done)

# $(call apt_ensure,packages): install what dpkg says is missing; `apt-get update` only then.
# (Ubuntu 24.04 renamed some libraries NAMEt64: either name counts as installed.)
define apt_ensure
	@if ! command -v dpkg >/dev/null 2>&1; then \
		echo "note: not a Debian/Ubuntu system; make sure these are installed: $(1)"; exit 0; fi; \
	missing=""; for p in $(1); do \
		dpkg -s $$p >/dev/null 2>&1 || dpkg -s $${p}t64 >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then \
		echo "note: missing Debian packages:$$missing (not root, so not installing them;"; \
		echo "      run: sudo apt-get install -y$$missing). Going on; what needs them will fail or skip."; exit 0; fi; \
	echo "Installing Debian packages:$$missing"; \
	export DEBIAN_FRONTEND=noninteractive; \
	apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing
endef

.PHONY: help run test lint demo-video benchmarks clean distclean python-check venv dev-venv apt-run apt-test apt-list

help: ## list the targets
	@echo "Classroom engagement analytics. Targets:"
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | awk -F'\t' '{printf "  make %-12s %s\n", $$1, $$2}'
	@echo "Variables: PYTHON=$(PYTHON) PORT=$(PORT) DB_URL=$(DB_URL)"

run: venv apt-run ## analyse the demo class once, then serve the dashboard on PORT (8501)
	$(PY) -m engine process $(DEMO_VIDEO) --db $(DB_URL) --title "Demo class" --if-missing
	$(PY) -m dashboard --port $(PORT) --db $(DB_URL)

test: dev-venv apt-test ## run the whole test suite (TEST_WORKERS processes; 1: one process)
	$(PY) -m pytest -q --durations=15 $(if $(filter-out 1,$(TEST_WORKERS)),-n $(TEST_WORKERS) --dist loadfile)

lint: dev-venv ## check the code style with ruff
	$(PY) -m ruff check .

demo-video: venv ## rebuild assets/demo_class.mp4 and its truth CSV from ../shared FER2013
	$(PY) assets/make_demo_class.py

benchmarks: venv apt-test ## run every benchmark script in benchmarks/ (prints figures and the machine)
	@failed=""; for script in $$(grep -l '__name__ == "__main__"' benchmarks/*.py); do \
		module=$$(basename $$script .py); \
		if [[ " $(BENCHMARKS_OWN_VENV) " == *" $$module "* ]]; then \
			echo "== skipped benchmarks/$$module.py: it runs in its own virtualenv (see its docstring)"; continue; fi; \
		echo "== python -m benchmarks.$$module"; \
		$(PY) -m benchmarks.$$module || failed="$$failed $$module"; done; \
	if [ -n "$$failed" ]; then echo "benchmarks that failed:$$failed"; exit 1; fi

clean: ## remove caches (keeps .venv, the database and uploads)
	rm -rf .pytest_cache .ruff_cache
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean ## also remove the virtualenv (the next run reinstalls everything)
	rm -rf $(VENV)

python-check:
	@if [ -z "$(BASE_PYTHON)" ]; then \
		echo "error: Python 3.11 (or 3.12) is needed to create $(VENV); tried: $(PYTHON_CANDIDATES)." >&2; \
		for p in $(PYTHON_CANDIDATES); do command -v $$p >/dev/null 2>&1 && echo "       $$p is $$($$p --version 2>/dev/null || echo not runnable)" >&2; done; \
		echo "       Install it (Debian/Ubuntu: apt-get install python3.11 python3.11-venv) or run make PYTHON=/path/to/python3.11 ..." >&2; \
		exit 1; fi

$(PY):
	@$(MAKE) --no-print-directory python-check
	@if ! $(BASE_PYTHON) -c 'import ensurepip, venv' 2>/dev/null; then \
		v=$$($(BASE_PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])'); \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "Installing python$$v-venv (venv support for $(BASE_PYTHON))"; \
			DEBIAN_FRONTEND=noninteractive apt-get update -qq && apt-get install -y -qq python$$v-venv; \
		else echo "error: $(BASE_PYTHON) cannot create virtualenvs; install python$$v-venv" >&2; exit 1; fi; fi
	@echo "Creating $(VENV) with $(BASE_PYTHON) ($$($(BASE_PYTHON) --version))"
	$(BASE_PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# Stamp files: pip runs again only when a requirements file is newer than its stamp.
$(VENV)/.installed-run: requirements.txt | $(PY)
	@echo "Installing requirements.txt into $(VENV) (first time: several minutes)"
	$(PY) -m pip install -q -r requirements.txt
	@touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(PY)
	@echo "Installing requirements-dev.txt into $(VENV) (first time: several minutes)"
	$(PY) -m pip install -q -r requirements-dev.txt
	@touch $(VENV)/.installed-run $@

venv: $(VENV)/.installed-run

dev-venv: $(VENV)/.installed-dev

apt-run:
	$(call apt_ensure,$(APT_RUN))

apt-test:
	$(call apt_ensure,$(APT_TEST))

apt-list:  # the Debian packages `make test` ensures, one line (read by tests)
	@echo $(APT_TEST)
