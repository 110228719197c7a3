"""gaussianization.setup(): quiet TensorFlow import on both kernel families, seeds, bad input."""

from __future__ import annotations

import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import gaussianization as gz
from gaussianization import notebook


def _python(code: str, **env) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "GAUSSIANIZATION_SEED")}
    environment.update(env)
    return subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True, text=True,
                          timeout=600, check=False)


@pytest.mark.parametrize("onednn", ["1", "0"])
def test_setup_imports_tensorflow_without_a_line_on_stderr(onednn):
    result = _python("import gaussianization as gz\nprint(gz.setup())\nimport keras\n"
                     "print(float(keras.ops.sum(keras.ops.ones(3))))", TF_ENABLE_ONEDNN_OPTS=onednn,
                     GAUSSIANIZATION_SEED="4")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["4", "3.0"]
    assert result.stderr == ""


def test_stderr_filter_drops_only_the_start_up_notices():
    code = ("import os\nfrom gaussianization.notebook import _STARTUP_NOTICES, _stderr_filtered\n"
            "with _stderr_filtered(_STARTUP_NOTICES):\n"
            "    os.write(2, b'WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\\n')\n"
            "    os.write(2, b'I0000 port.cc:153] oneDNN custom operations are on. You may see ...\\n')\n"
            "    os.write(2, b'a real problem\\n')\n")
    result = _python(code)
    assert result.returncode == 0
    assert result.stderr == "a real problem\n"


def test_setup_seeds_every_generator_and_returns_the_seed():
    assert gz.setup(seed=3, style=False) == 3
    first = np.random.rand()
    keras.utils.set_random_seed(3)
    assert np.random.rand() == first


def test_seed_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv(notebook.SEED_VARIABLE, " 12 ")
    assert notebook.seed_from_environment() == 12
    monkeypatch.delenv(notebook.SEED_VARIABLE)
    assert notebook.seed_from_environment(default=5) == 5


@pytest.mark.parametrize("raw", ["-1", "1.5", "seven"])
def test_bad_seed_in_the_environment_is_a_clear_error(monkeypatch, raw):
    monkeypatch.setenv(notebook.SEED_VARIABLE, raw)
    with pytest.raises(ValueError, match="GAUSSIANIZATION_SEED"):
        gz.setup(style=False)


@pytest.mark.parametrize("seed", [-1, 2.0, True, "3"])
def test_bad_seed_argument_is_a_clear_error(seed):
    with pytest.raises(ValueError, match="non-negative integer"):
        gz.setup(seed=seed, style=False)
