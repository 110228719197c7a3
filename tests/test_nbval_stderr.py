"""--nbval-no-stderr (tests/nbval_myst.py) fails a notebook cell that writes to stderr."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HEADER = ("---\njupytext:\n  text_representation:\n    extension: .md\n    format_name: myst\n"
          "kernelspec:\n  display_name: Python 3\n  language: python\n  name: python3\n---\n\n")


@pytest.mark.parametrize(("code", "fails"), [("import sys\nsys.stderr.write('noise\\n')", True),
                                              ("print('fine')", False)])
def test_stderr_output_fails_the_cell(tmp_path, code, fails):
    notebook = tmp_path / "00_probe.md"
    notebook.write_text(HEADER + "```{code-cell} ipython3\n" + code + "\n```\n")
    result = subprocess.run([sys.executable, "-m", "pytest", "-p", "tests.nbval_myst", "--nbval-lax",
                             "--nbval-current-env", "--nbval-no-stderr", "-q", "-p", "no:cacheprovider",
                             str(notebook)], cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert (result.returncode != 0) == fails, result.stdout
    if fails:
        assert "wrote to stderr" in result.stdout
