# Two commands on a fresh machine (see README.md), and a third to work through the chapters:
#   make book   build the site and its PDF into _build/html (the main job)
#   make test   run every test: unit + property, notebooks under nbval, book build, mystmd content
#               build, PDF, browser check
#   make lab    open the chapters as notebooks in JupyterLab (book/run_yourself.md)
# Each creates its own virtual environment in .venv on first use (and .venv-myst for mystmd).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

# Keep TensorFlow quiet and pinned to its CPU path everywhere (notebooks, tests, book). The
# oneDNN start-up notice ignores TF_CPP_MIN_LOG_LEVEL; gaussianization.setup() filters it.
export TF_CPP_MIN_LOG_LEVEL := 2
export KERAS_BACKEND := tensorflow
export PYTHONHASHSEED := 0
export PYDEVD_DISABLE_FILE_VALIDATION := 1

.PHONY: book html test lab kernel unit notebooks-onednn-on notebooks-onednn-off myst-check pdf pdf-check node test-backends test-backends-torch test-backends-jax notebooks site-check bench bench-quick bench-speed profile spread spread-report notebook-times browser clean help

help:
	@echo "make book         build the tutorial site (and its PDF) into _build/html"
	@echo "make test         run every test (unit, property, notebooks, book build, mystmd, PDF, browser check)"
	@echo "make lab          JupyterLab on notebooks/, the chapters open as notebooks (LAB_ARGS=--no-browser ...)"
	@echo "make pdf          the book as one PDF, _build/pdf/book.pdf (mystmd + Typst, offline)"
	@echo "make myst-check   mystmd's (Jupyter Book 2's) content build of the same sources, offline"
	@echo "make test-backends  the unit tests on the JAX and torch backends of Keras"
	@echo "make bench        full benchmark run (writes benchmarks/results.json)"
	@echo "make bench-quick  a short benchmark run"
	@echo "make bench-speed  only the speed suite: ours on TensorFlow, JAX and torch against zuko"
	@echo "make profile      where a training step and a log_prob spend their time, by op family"
	@echo "make notebook-times  wall time of every chapter and of its slowest cells (nbclient, as nbval runs them)"
	@echo "make spread       re-measure every asserted number over seeds and kernel families (about an hour)"

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test,book]"
	touch $@

# The project's Jupyter kernel, registered inside .venv (never in the user's home). The chapters
# name the standard `python3` kernel, which in a Jupyter started from .venv is this same Python.
KERNEL := $(VENV)/share/jupyter/kernels/gaussianization/kernel.json
$(KERNEL): $(STAMP)
	$(PY) -m ipykernel install --sys-prefix --name gaussianization --display-name "Python (gaussianization)"

kernel: $(KERNEL)

# JupyterLab's settings in .venv only (book/_lab/overrides.json): `.md` files open with jupytext's notebook
# view; no autosave (opening a chapter marks it changed), no news or update check.
LAB_SETTINGS := $(VENV)/share/jupyter/lab/settings/overrides.json
$(LAB_SETTINGS): book/_lab/overrides.json $(STAMP)
	mkdir -p $(@D)
	cp book/_lab/overrides.json $@

$(VENV)/.lab-installed: $(STAMP)
	$(PY) -m pip install --quiet -e ".[lab]"
	touch $@

# JupyterLab on notebooks/, on 127.0.0.1 only, with the environment above (quiet TensorFlow).
# book/_lab/jupyter_server_config.py sets jupytext's contents manager; extra flags go in LAB_ARGS
# (e.g. make lab LAB_ARGS="--no-browser --port=8899"). Jupyter refuses to run as root unless told.
LAB_ARGS ?=
lab: $(VENV)/.lab-installed $(KERNEL) $(LAB_SETTINGS)
	$(VENV)/bin/jupyter lab --config=book/_lab/jupyter_server_config.py --ServerApp.root_dir=notebooks \
		$(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS)

# The site with its PDF (the sidebar links to book.pdf). Notebooks run during the HTML build
# (cached in _build/.jupyter_cache); any warning fails it. The PDF needs Node.js (make pdf): where
# it cannot be made, the site is still built and the PDF link says so by being missing.
book: html
	@$(MAKE) --no-print-directory pdf || echo "make book: no PDF was made (make pdf needs Node.js); \
	the sidebar's link to book.pdf is broken until make pdf succeeds" >&2
	@echo "Site built: open file://$(CURDIR)/_build/html/index.html"

html: $(STAMP)
	$(VENV)/bin/jupyter-book build . --warningiserror --nitpick --keep-going

# tests/test_site_check.py drives the real browser, so unit tests need it too; tests/test_lab.py
# starts JupyterLab as `make lab` does, with the project's kernel. The tests are independent, so
# pytest-xdist runs them on one worker process per core (-n auto).
unit: $(STAMP) browser $(KERNEL) $(LAB_SETTINGS)
	$(PY) -m pytest tests -q -n auto

# The unit tests again on the other Keras backends the library supports (the `backends` extra).
# The browser check and the tests marked TensorFlow-only are left out (the latter skip themselves).
# JAX compiles every bijector once per input shape; its persistent cache in .jax_cache makes the
# identical compilations of later tests and later runs a disk read.
BACKEND_TESTS := $(PY) -m pytest tests -q --ignore=tests/test_site_check.py
# CI runs the torch half (156 s here); the JAX half compiles every bijector per input shape and
# took about 50 min on a cold cache, beyond CI's budget next to `make test`.
test-backends: test-backends-torch test-backends-jax

test-backends-torch: $(STAMP)
	$(PY) -m pip install --quiet "torch==2.13.0"
	KERAS_BACKEND=torch $(BACKEND_TESTS) -n auto

test-backends-jax: $(STAMP)
	$(PY) -m pip install --quiet -e ".[backends]"
	KERAS_BACKEND=jax JAX_COMPILATION_CACHE_DIR=$(CURDIR)/.jax_cache JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0 \
		$(BACKEND_TESTS)

# Every notebook under nbval, once with each of TensorFlow's CPU kernel families (oneDNN on, then
# off): their float rounding differs, and every claim must hold under both. Any stderr output of a
# cell fails it. The oneDNN-on pass stores passing notebooks in the book's execution cache, so the
# book build that follows renders them without executing them again.
# The two passes are independent (each notebook runs in its own kernel and writes only to a
# temporary directory) and a notebook keeps about one core busy, so they run side by side;
# --output-sync prints each pass's report whole when it ends.
NBVAL := $(PY) -m pytest -p tests.nbval_myst --nbval-lax --nbval-current-env --nbval-no-stderr -q notebooks
notebooks: $(STAMP)
	$(MAKE) --no-print-directory -j2 --output-sync=target notebooks-onednn-on notebooks-onednn-off

notebooks-onednn-on: $(STAMP)
	TF_ENABLE_ONEDNN_OPTS=1 $(NBVAL) --nbval-book-cache _build/.jupyter_cache

notebooks-onednn-off: $(STAMP)
	TF_ENABLE_ONEDNN_OPTS=0 $(NBVAL)

browser:
	@test -x /usr/bin/chromium || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }

# Every page of the built site in headless Chromium: maths typeset, figures loaded,
# internal links resolve, no log noise, nothing fetched from the network.
site-check: $(STAMP) browser html pdf
	$(PY) -m tests.site_check _build/html
	$(PY) -m tests.launch_check _build/html

# ---- mystmd (Jupyter Book 2) and the PDF -------------------------------------------------------
# myst.yml builds the same sources with mystmd; see book/_myst/README.md. mystmd lives in its own
# environment (.venv-myst: Jupyter Book 1 and Jupyter Book 2 share the PyPI name jupyter-book),
# with the Typst compiler (PyPI's `typst` binding, run through book/_myst/typst_cli.py) and pypdf.
# Its JavaScript runs on Node (Debian's nodejs, installed when missing). mystmd itself asks for
# Node >= 18 but the Python wrapper of mystmd 1.11 refuses anything below 20, so the bundled
# myst.cjs is run with node directly (checked here with Node 20). Nothing is fetched: no template
# (the site stub and the Typst template are in book/_myst), no Typst package (TYPST_PACKAGE_PATH),
# no npm version check (its registry is pointed at a closed port).
MYST_VENV  := .venv-myst
MYST_PY    := $(MYST_VENV)/bin/python
MYST_STAMP := $(MYST_VENV)/.installed
MYST_PINS  := "mystmd==1.11.0" "typst==0.15.2" "pypdf==7.1.1"
MYST_JS     = $(firstword $(wildcard $(MYST_VENV)/lib/python3*/site-packages/mystmd_py/myst.cjs))
MYST        = PATH="$(CURDIR)/$(MYST_VENV)/bin:$$PATH" MYST_LANG=PYTHON npm_config_registry=http://127.0.0.1:9 \
              TYPST_PACKAGE_PATH="$(CURDIR)/book/_myst/typst/packages" node $(MYST_JS)
THEME_DIR  := _build/templates/site/myst/book-theme

node:
	@command -v node >/dev/null || { apt-get update -qq && apt-get install -y -qq nodejs >/dev/null; }

$(MYST_STAMP): Makefile book/_myst/typst_cli.py
	test -x $(MYST_PY) || $(PYTHON) -m venv $(MYST_VENV)
	$(MYST_PY) -m pip install --quiet --upgrade pip
	$(MYST_PY) -m pip install --quiet $(MYST_PINS)
	printf '#!/bin/sh\nexec "%s" "%s" "$$@"\n' "$(CURDIR)/$(MYST_PY)" "$(CURDIR)/book/_myst/typst_cli.py" > $(MYST_VENV)/bin/typst
	chmod +x $(MYST_VENV)/bin/typst
	touch $@

# mystmd's content build (_build/site: config.json, content/*.json), offline: with no book-theme
# downloaded yet, a stub of it (book/_myst/site-stub) stands in while the content is written. Any
# warning or error line fails, and every chapter figure must be a labelled, numbered figure.
myst-check: $(MYST_STAMP) node
	@mkdir -p _build
	@stub=; if [ ! -e $(THEME_DIR)/template.yml ]; then \
		mkdir -p $(THEME_DIR) && cp book/_myst/site-stub/template.yml $(THEME_DIR)/ && stub=1; fi; \
	$(MYST) build --site --ci > _build/myst-check.log 2>&1; rc=$$?; \
	if [ -n "$$stub" ]; then rm -rf $(THEME_DIR); fi; \
	cat _build/myst-check.log; test $$rc -eq 0
	$(MYST_PY) -m tests.myst_check log _build/myst-check.log
	$(MYST_PY) -m tests.myst_check content _build/site

# The book as one PDF through mystmd's Typst export (myst.yml `exports`, template book/_myst/typst).
# The notebooks are not executed again: their outputs come from the book build's execution cache
# (book/_myst/execution_cache.py), and the log must show all seven taken from there. The PDF is
# copied into the site, which links it from its sidebar (book/_templates/book-pdf.html).
NOTEBOOKS = $(sort $(wildcard notebooks/[0-9][0-9]_*.md))
pdf: $(STAMP) $(MYST_STAMP) node html
	rm -rf _build/pdf _build/execute
	$(PY) book/_myst/execution_cache.py --out _build/execute $(NOTEBOOKS)
	@mkdir -p _build/pdf
	$(MYST) build --typst --execute --ci > _build/pdf/myst-pdf.log 2>&1 || { cat _build/pdf/myst-pdf.log; exit 1; }
	@cat _build/pdf/myst-pdf.log
	$(MYST_PY) -m tests.myst_check log _build/pdf/myst-pdf.log --cached $(words $(NOTEBOOKS))
	cp _build/pdf/typst/book.pdf _build/pdf/book.pdf
	cp _build/pdf/book.pdf _build/html/book.pdf
	@echo "PDF built: $(CURDIR)/_build/pdf/book.pdf"

# It opens, has every chapter in its outline and at least one figure in every chapter.
pdf-check: $(MYST_STAMP) pdf
	$(MYST_PY) -m tests.pdf_check _build/pdf/book.pdf

test: unit notebooks html myst-check pdf pdf-check site-check

# The speed suite (ours on TensorFlow, JAX and torch, and zuko, one worker process each) and the
# profile run first; benchmarks.run then writes results.json and the whole performance page.
bench: $(STAMP)
	$(PY) -m pip install --quiet -e ".[bench]"
	$(PY) -m benchmarks.speed
	$(PY) -m benchmarks.profile
	$(PY) -m benchmarks.distributed
	$(PY) -m benchmarks.run

bench-speed: $(STAMP)
	$(PY) -m pip install --quiet -e ".[bench]"
	$(PY) -m benchmarks.speed
	$(PY) -m benchmarks.report

profile: $(STAMP)
	$(PY) -m benchmarks.profile
	$(PY) -m benchmarks.report

bench-quick: $(STAMP)
	$(PY) -m pip install --quiet -e ".[bench]"
	$(PY) -m benchmarks.run --quick

# Every notebook with seeds 0-4 under both kernel families (70 runs), then benchmarks/spread.json,
# book/reproducibility.md and the "# spread over ..." comments above the notebooks' asserts.
spread: $(STAMP)
	$(PY) -m benchmarks.spread run
	$(MAKE) spread-report

spread-report: $(STAMP)
	$(PY) -m benchmarks.spread summarise
	$(PY) -m benchmarks.spread_report

# Wall time of each chapter and its slowest cells (the book's target: about 90 s each on 2 cores).
notebook-times: $(STAMP) $(KERNEL)
	$(PY) -m benchmarks.notebook_times

clean:
	rm -rf _build
