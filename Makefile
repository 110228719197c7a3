# Two commands on a fresh machine (see README.md):
#   make book   build the site into _build/html (the main job)
#   make test   run every test: unit + property, notebooks under nbval, book build, browser check
# Both create their own virtual environment in .venv on first use.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

# Keep TensorFlow quiet and pinned to its CPU path everywhere (notebooks, tests, book).
export TF_CPP_MIN_LOG_LEVEL := 2
export KERAS_BACKEND := tensorflow
export PYTHONHASHSEED := 0
export PYDEVD_DISABLE_FILE_VALIDATION := 1

.PHONY: book test unit notebooks site-check bench bench-quick browser clean help

help:
	@echo "make book         build the tutorial site into _build/html"
	@echo "make test         run every test (unit, property, notebooks, book build, browser check)"
	@echo "make bench        full benchmark run (writes benchmarks/results.json)"
	@echo "make bench-quick  a short benchmark run"

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test,book]"
	touch $@

# Notebooks run during the build (cached in _build/.jupyter_cache); any warning fails it.
book: $(STAMP)
	$(VENV)/bin/jupyter-book build . --warningiserror --nitpick --keep-going
	@echo "Site built: open file://$(CURDIR)/_build/html/index.html"

# tests/test_site_check.py drives the real browser, so unit tests need it too.
unit: $(STAMP) browser
	$(PY) -m pytest tests -q

# Every notebook under nbval. Passing notebooks are stored in the book's execution cache, so the
# book build that follows renders them without executing them a second time.
notebooks: $(STAMP)
	$(PY) -m pytest -p tests.nbval_myst --nbval-lax --nbval-current-env -q notebooks \
		--nbval-book-cache _build/.jupyter_cache

browser:
	@test -x /usr/bin/chromium || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }

# Every page of the built site in headless Chromium: maths typeset, figures loaded,
# internal links resolve, no log noise, nothing fetched from the network.
site-check: $(STAMP) browser book
	$(PY) -m tests.site_check _build/html

test: unit notebooks book site-check

bench: $(STAMP)
	$(PY) -m pip install --quiet -e ".[bench]"
	$(PY) -m benchmarks.run

bench-quick: $(STAMP)
	$(PY) -m pip install --quiet -e ".[bench]"
	$(PY) -m benchmarks.run --quick

clean:
	rm -rf _build
