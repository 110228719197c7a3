"""The flow library's import boundaries: what `gaussianization.gauss_keras` may and may not import.

The library (`gaussianization/gauss_keras/`) is the product; the book's helpers (data sets,
metrics, plotting, the chapter-2 teaching code, the notebook set-up) and matplotlib are not part
of it, and TensorFlow, JAX and torch are reached through one module only, `gauss_keras/_backend.py`. One test
imports the library with matplotlib and seaborn made unimportable; two scan the sources (every
``import`` statement anywhere in a module, function bodies included, relative imports resolved).
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ROOT / "gaussianization" / "gauss_keras"
BACKEND = LIBRARY / "_backend.py"

#: Modules the flow library must not import (a name matches itself and its submodules).
FORBIDDEN_IN_LIBRARY = (
    "gaussianization.metrics",
    "gaussianization.datasets",
    "gaussianization.plotting",
    "gaussianization.tutorial",
    "gaussianization.notebook",
    "matplotlib",
    "seaborn",
)

_BLOCKED_IMPORT = r'''
import importlib.abc
import json
import sys
import traceback

BLOCKED = ("matplotlib", "seaborn")


class BlockPlotting(importlib.abc.MetaPathFinder):
    """Make matplotlib and seaborn (and their submodules) unimportable, as if not installed."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname.split(".")[0] in BLOCKED:
            raise ImportError(f"{fullname} is blocked by tests/test_import_boundaries.py", name=fullname)
        return None


sys.meta_path.insert(0, BlockPlotting())
results = {}


def step(name, action):
    try:
        results[name] = ["ok", action()]
    except BaseException:
        results[name] = ["error", traceback.format_exc()]


def import_package():
    import gaussianization  # noqa: F401


def import_library():
    import gaussianization.gauss_keras  # noqa: F401
    helpers = ("gaussianization.metrics", "gaussianization.datasets", "gaussianization.plotting",
               "gaussianization.tutorial")
    return sorted(name for name in sys.modules if name.startswith(helpers))


def setup_without_style():
    import gaussianization
    return gaussianization.setup(seed=0, style=False)


def import_plotting():
    try:
        import gaussianization.plotting  # noqa: F401
    except ImportError as error:
        return str(error)
    return None


step("import gaussianization", import_package)
step("import gaussianization.gauss_keras", import_library)
step("gaussianization.setup(style=False)", setup_without_style)
step("import gaussianization.plotting", import_plotting)
results["plotting modules loaded"] = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
print("RESULTS " + json.dumps(results))
'''


def test_library_imports_without_matplotlib_or_seaborn():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    env.setdefault("KERAS_BACKEND", "tensorflow")
    proc = subprocess.run([sys.executable, "-c", _BLOCKED_IMPORT], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600, check=False)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULTS ")]
    assert proc.returncode == 0 and lines, f"the subprocess failed (rc {proc.returncode}):\n{proc.stderr[-4000:]}"
    results = json.loads(lines[-1][len("RESULTS "):])

    for name in ("import gaussianization", "import gaussianization.gauss_keras",
                 "gaussianization.setup(style=False)"):
        status, detail = results[name]
        assert status == "ok", f"`{name}` fails without matplotlib/seaborn:\n{detail}"
    assert results["import gaussianization.gauss_keras"][1] == [], (
        "importing gaussianization.gauss_keras loaded the book's helpers: "
        f"{results['import gaussianization.gauss_keras'][1]}")
    assert results["gaussianization.setup(style=False)"][1] == 0

    status, message = results["import gaussianization.plotting"]
    assert status == "ok", f"importing gaussianization.plotting raised something other than ImportError:\n{message}"
    assert message is not None, "gaussianization.plotting imported although matplotlib is blocked"
    assert 'pip install "gaussianization[plot]"' in message, f"unhelpful ImportError: {message!r}"
    assert results["plotting modules loaded"] == [], results["plotting modules loaded"]


# ------------------------------------------------------------------ static scans
def _library_files() -> list[Path]:
    files = sorted(p for p in LIBRARY.rglob("*.py") if "__pycache__" not in p.parts)
    assert len(files) >= 5, f"found only {files} under {LIBRARY}"
    return files


def _imported_names(source: str, module: str, *, is_package: bool, filename: str = "<string>"):
    """Yield ``(line, absolute module name)`` for every import in ``source``, anywhere in the file.

    ``module`` is the dotted name of the file (``a.b.c`` for ``a/b/c.py``; ``a.b`` for
    ``a/b/__init__.py`` with ``is_package=True``). ``from X import y`` yields ``X`` and ``X.y``
    (``y`` may be a submodule); relative imports are resolved against the file's package;
    ``importlib.import_module("x")`` and ``__import__("x")`` with a literal name count too.
    """
    package = module.split(".") if is_package else module.split(".")[:-1]
    for node in ast.walk(ast.parse(source, filename=filename)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)] if node.level - 1 <= len(package) else []
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            yield node.lineno, name
            for alias in node.names:
                if alias.name != "*":
                    yield node.lineno, f"{name}.{alias.name}"
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            called = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            first = node.args[0]
            if called in ("import_module", "__import__") and isinstance(first, ast.Constant) \
                    and isinstance(first.value, str) and not first.value.startswith("."):
                yield node.lineno, first.value


def _file_imports(path: Path):
    rel = path.relative_to(ROOT).with_suffix("")
    is_package = rel.name == "__init__"
    module = ".".join(rel.parts[:-1] if is_package else rel.parts)
    return _imported_names(path.read_text(encoding="utf-8"), module, is_package=is_package, filename=str(path))


def _matches(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _offences(files, forbidden) -> list[str]:
    """``"path:line imports name"`` for every import in ``files`` of a module in ``forbidden``."""
    found = {
        (path.relative_to(ROOT).as_posix(), line, prefix)
        for path in files
        for line, name in _file_imports(path)
        for prefix in forbidden
        if _matches(name, prefix)
    }
    return [f"{path}:{line} imports {prefix}" for path, line, prefix in sorted(found)]


def test_library_does_not_import_the_books_helpers_or_plotting():
    # The scanner itself: a relative import inside a function, an absolute one, a submodule import.
    probe = ("def f():\n    from ..metrics import nll\n    import matplotlib.pyplot as plt\n"
             "from gaussianization import plotting\n")
    seen = {name for _, name in _imported_names(probe, "gaussianization.gauss_keras.rbig", is_package=False)}
    assert {"gaussianization.metrics", "matplotlib.pyplot", "gaussianization.plotting"} <= seen, seen

    offences = _offences(_library_files(), FORBIDDEN_IN_LIBRARY)
    assert not offences, ("gaussianization/gauss_keras/ must not import the book's helpers, matplotlib or "
                          "seaborn:\n  " + "\n  ".join(offences))


def test_only_the_backend_module_imports_a_backend():
    backends = ("tensorflow", "jax", "torch", "keras.src")  # keras.src: Keras's private modules
    offences = _offences([path for path in _library_files() if path != BACKEND], backends)
    assert not offences, ("only gaussianization/gauss_keras/_backend.py may import TensorFlow, JAX, torch or "
                          "Keras's private modules; also found:\n  " + "\n  ".join(offences))
