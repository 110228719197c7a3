# Two commands on a fresh machine (see README.md), and a third to work through the chapters:
#   make book   build the site into _build/html (the main job)
#   make test   run every test: unit + property, notebooks under nbval, book build, browser check
#   make lab    open the chapters as notebooks in JupyterLab (book/run_yourself.md)
# Each creates its own virtual environment in .venv on first use.

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

.PHONY: book test lab kernel unit test-backends test-backends-torch test-backends-jax notebooks site-check bench bench-quick bench-speed profile spread spread-report browser clean help

help:
	@echo "make book         build the tutorial site into _build/html"
	@echo "make test         run every test (unit, property, notebooks, book build, browser check)"
	@echo "make lab          JupyterLab on notebooks/, the chapters open as notebooks (LAB_ARGS=--no-browser ...)"
	@echo "make test-backends  the unit tests on the JAX and torch backends of Keras"
	@echo "make bench        full benchmark run (writes benchmarks/results.json)"
	@echo "make bench-quick  a short benchmark run"
	@echo "make bench-speed  only the speed suite: ours on TensorFlow, JAX and torch against zuko"
	@echo "make profile      where a training step and a log_prob spend their time, by op family"
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

# JupyterLab's settings in .venv only (lab/overrides.json): `.md` files open with jupytext's notebook
# view; no autosave (opening a chapter marks it changed), no news or update check.
LAB_SETTINGS := $(VENV)/share/jupyter/lab/settings/overrides.json
$(LAB_SETTINGS): lab/overrides.json $(STAMP)
	mkdir -p $(@D)
	cp lab/overrides.json $@

$(VENV)/.lab-installed: $(STAMP)
	$(PY) -m pip install --quiet -e ".[lab]"
	touch $@

# JupyterLab on notebooks/, on 127.0.0.1 only, with the environment above (quiet TensorFlow).
# lab/jupyter_server_config.py sets jupytext's contents manager; extra flags go in LAB_ARGS
# (e.g. make lab LAB_ARGS="--no-browser --port=8899"). Jupyter refuses to run as root unless told.
LAB_ARGS ?=
lab: $(VENV)/.lab-installed $(KERNEL) $(LAB_SETTINGS)
	$(VENV)/bin/jupyter lab --config=lab/jupyter_server_config.py --ServerApp.root_dir=notebooks \
		$(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS)

# Notebooks run during the build (cached in _build/.jupyter_cache); any warning fails it.
book: $(STAMP)
	$(VENV)/bin/jupyter-book build . --warningiserror --nitpick --keep-going
	@echo "Site built: open file://$(CURDIR)/_build/html/index.html"

# tests/test_site_check.py drives the real browser, so unit tests need it too; tests/test_lab.py
# starts JupyterLab as `make lab` does, with the project's kernel.
unit: $(STAMP) browser $(KERNEL) $(LAB_SETTINGS)
	$(PY) -m pytest tests -q

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
	KERAS_BACKEND=torch $(BACKEND_TESTS)

test-backends-jax: $(STAMP)
	$(PY) -m pip install --quiet -e ".[backends]"
	KERAS_BACKEND=jax JAX_COMPILATION_CACHE_DIR=$(CURDIR)/.jax_cache JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0 \
		$(BACKEND_TESTS)

# Every notebook under nbval, once with each of TensorFlow's CPU kernel families (oneDNN on, then
# off): their float rounding differs, and every claim must hold under both. Any stderr output of a
# cell fails it. The oneDNN-on pass stores passing notebooks in the book's execution cache, so the
# book build that follows renders them without executing them again.
NBVAL := $(PY) -m pytest -p tests.nbval_myst --nbval-lax --nbval-current-env --nbval-no-stderr -q notebooks
notebooks: $(STAMP)
	TF_ENABLE_ONEDNN_OPTS=1 $(NBVAL) --nbval-book-cache _build/.jupyter_cache
	TF_ENABLE_ONEDNN_OPTS=0 $(NBVAL)

browser:
	@test -x /usr/bin/chromium || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }

# Every page of the built site in headless Chromium: maths typeset, figures loaded,
# internal links resolve, no log noise, nothing fetched from the network.
site-check: $(STAMP) browser book
	$(PY) -m tests.site_check _build/html

test: unit notebooks book site-check

# The speed suite (ours on TensorFlow, JAX and torch, and zuko, one worker process each) and the
# profile run first; benchmarks.run then writes results.json and the whole performance page.
bench: $(STAMP)
	$(PY) -m pip install --quiet -e ".[bench]"
	$(PY) -m benchmarks.speed
	$(PY) -m benchmarks.profile
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

clean:
	rm -rf _build
