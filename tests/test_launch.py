"""The chapters as executed notebooks for Colab and Binder (book/_ext/executed_notebooks.py) and
their check (tests/launch_check.py).

These run without a built site: ``python -m tests.launch_check _build/html`` runs the same checks on
the real one (``make site-check``). The install cell is run for real, once, in a fresh virtual
environment without the package (``test_install_cell_installs_once_then_does_nothing``: 13 to 28 s
measured on two busy cores, most of it TensorFlow's import after the cell; pip took under 2 s), with
pip pointed at a copy of this checkout and at no index, so no network is needed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import nbformat
import pytest

from tests import launch_check
from tests.launch_check import extension

ROOT = Path(__file__).resolve().parents[1]
LAUNCH = launch_check.Launch.from_config()
URL = LAUNCH.repository_url


def _executed(outputs: bool = True):
    notebook = nbformat.v4.new_notebook(metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "jupytext": {"text_representation": {"extension": ".md"}}, "source_map": [0, 3]})
    stream = [nbformat.v4.new_output("stream", name="stdout", text=t) for t in ("a\n", "b\n")]
    notebook.cells = [nbformat.v4.new_markdown_cell("# Title"),
                      nbformat.v4.new_code_cell("import gaussianization as gz\n\nSEED = gz.setup()"),
                      nbformat.v4.new_code_cell("print('a'); print('b')", outputs=stream if outputs else [])]
    return notebook


def test_install_cell_is_python_and_names_the_repository():
    source = extension.install_cell_source(URL)
    compile(source, "install-cell", "exec")
    assert extension.install_requirement(URL) == f"gaussianization[plot] @ git+{URL}"
    assert f'"{extension.install_requirement(URL)}"' in source
    assert extension.INSTALL_SOURCE_VARIABLE in source


def test_one_repository_url():
    import yaml

    myst = yaml.safe_load((ROOT / "myst.yml").read_text(encoding="utf-8"))
    assert myst["project"]["github"] == URL  # mystmd's copy of _config.yml's repository.url


def test_generated_notebook_puts_the_install_cells_first():
    notebook = extension.with_install_cell(_executed(), URL)
    nbformat.validate(notebook)
    assert [cell.cell_type for cell in notebook.cells] == ["markdown", "code", "markdown", "code", "code"]
    assert notebook.cells[0].source == extension.INSTALL_NOTE
    assert notebook.cells[1].source == extension.install_cell_source(URL)
    assert notebook.cells[3].source.startswith("import gaussianization as gz")  # the chapter's own first cell
    assert [cell.id for cell in notebook.cells] == [f"cell-{i}" for i in range(5)]  # the same on every build
    assert notebook.cells[4].outputs == [nbformat.v4.new_output("stream", name="stdout", text="a\nb\n")]
    assert set(notebook.metadata) == {"kernelspec"}


def test_executed_notebook_comes_from_the_cache(tmp_path):
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    chapter = tmp_path / "chapter.md"
    chapter.write_text("---\njupytext:\n  text_representation:\n    format_name: myst\n"
                       "kernelspec:\n  name: python3\n  display_name: Python 3\n---\n\n# Title\n\n"
                       "```{code-cell} ipython3\nprint(1)\n```\n", encoding="utf-8")
    cache = str(tmp_path / "cache")
    with pytest.raises(KeyError):
        extension.executed_notebook(chapter, cache)
    notebook = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}})
    notebook.cells = [nbformat.v4.new_markdown_cell("# Title"), nbformat.v4.new_code_cell(
        "print(1)", outputs=[nbformat.v4.new_output("stream", name="stdout", text="1\n")])]
    get_cache(cache).cache_notebook_bundle(CacheBundleIn(notebook, str(chapter)), check_validity=False)
    merged = extension.executed_notebook(chapter, cache)
    assert [cell.get("outputs") for cell in merged.cells if cell.cell_type == "code"][0][0]["text"] == "1\n"


def test_launch_urls_open_the_ipynb_on_the_published_branch():
    buttons = {"colab_url": "https://colab.research.google.com", "binderhub_url": "https://mybinder.org/"}
    urls = extension.launch_urls(URL, buttons, "gh-pages", "notebooks/00_change_of_variables")
    assert urls == {
        "Colab": "https://colab.research.google.com/github/gaussianization/gaussianization-flows/blob/gh-pages/"
                 "notebooks/00_change_of_variables.ipynb",
        "Binder": "https://mybinder.org/v2/gh/gaussianization/gaussianization-flows/gh-pages"
                  "?labpath=notebooks/00_change_of_variables.ipynb",
    }
    assert urls["Colab"].startswith(LAUNCH.colab_prefix) and urls["Binder"].startswith(LAUNCH.binder_prefix)
    with pytest.raises(ValueError):
        extension.github_parts("https://gitlab.com/a/b")


def test_buttons_are_repointed():
    class App:
        class env:
            metadata = {"notebooks/00_x": {"kernelspec": {}}, "book/api": {}}

        class config:
            html_theme_options = {"repository_url": URL, "launch_buttons": {"colab_url": "https://colab.example"}}
            launch_branch = "gh-pages"

    def buttons():
        return [{"label": "download-buttons", "buttons": [
                    {"label": "download-notebook-button", "url": "../_sources/notebooks/00_x.ipynb"},
                    {"label": "download-source-button", "url": "../_sources/notebooks/00_x.md"}]},
                {"label": "launch-buttons", "buttons": [{"text": "Colab", "url": "old"}]}]

    context = {"header_buttons": buttons(), "pathto": lambda name, resource: f"../{name}"}
    extension.point_buttons(App, "notebooks/00_x", "page.html", context, None)
    download, launch = context["header_buttons"]
    assert [b["url"] for b in download["buttons"]] == ["../notebooks/00_x.ipynb", "../_sources/notebooks/00_x.md"]
    assert launch["buttons"][0]["url"] == "https://colab.example/github/gaussianization/gaussianization-flows/" \
                                          "blob/gh-pages/notebooks/00_x.ipynb"
    other = {"header_buttons": buttons(), "pathto": None}
    extension.point_buttons(App, "book/api", "page.html", other, None)
    assert other["header_buttons"] == buttons()


def test_binder_environment_installs_the_package_from_the_repository():
    lines = [line.strip() for line in (ROOT / ".binder/requirements.txt").read_text().splitlines()]
    assert [line for line in lines if line and not line.startswith("#")] == [
        extension.install_requirement(URL).replace("[plot]", "[cpu,plot]")]
    runtime = re.fullmatch(r"python-3\.(\d+)", (ROOT / ".binder/runtime.txt").read_text().strip())
    assert runtime and int(runtime.group(1)) >= 10  # the package's requires-python


# ---- the check, on a small site of one chapter ----------------------------------------------------

PAGE = "notebooks/00_x.html"


def _site(tmp_path, colab="notebooks/00_x.ipynb", binder="notebooks/00_x.ipynb", download="00_x.ipynb",
          outputs=True):
    site = tmp_path / "html"
    (site / "notebooks").mkdir(parents=True)
    (site / ".binder").mkdir()
    shutil.copy(ROOT / ".binder/requirements.txt", site / ".binder")
    (site / ".nojekyll").touch()
    nbformat.write(extension.with_install_cell(_executed(outputs), URL), site / "notebooks/00_x.ipynb")
    (site / PAGE).write_text(
        f'<a href="{LAUNCH.colab_prefix}{colab}">Colab</a><a href="{LAUNCH.binder_prefix}{binder}">Binder</a>'
        f'<a href="{download}" class="btn btn-sm btn-download-notebook-button dropdown-item">.ipynb</a>',
        encoding="utf-8")
    return site


def test_check_passes_a_good_site(tmp_path):
    site = _site(tmp_path)
    assert launch_check.page_problems(site, PAGE, LAUNCH, 1) == []
    assert launch_check.site_problems(site, LAUNCH) == []


def test_check_fails_a_colab_link_to_markdown(tmp_path):
    site = _site(tmp_path, colab="notebooks/00_x.md")
    (site / "notebooks/00_x.md").write_text("# x\n")
    assert any("Colab" in p and "not an .ipynb" in p for p in launch_check.page_problems(site, PAGE, LAUNCH, 1))


def test_check_fails_a_link_to_a_missing_file_or_another_branch(tmp_path):
    site = _site(tmp_path, binder="notebooks/01_y.ipynb")
    problems = launch_check.page_problems(site, PAGE, LAUNCH, 1)
    assert any("Binder" in p and "does not exist" in p for p in problems)
    assert any("name different files" in p for p in problems)
    site = _site(tmp_path / "main", colab="x")
    page = (site / PAGE).read_text().replace(LAUNCH.colab_prefix + "x", LAUNCH.colab_prefix.replace(
        "gh-pages", "main") + "notebooks/00_x.ipynb")
    (site / PAGE).write_text(page)
    assert any(p.startswith("no Colab link") for p in launch_check.page_problems(site, PAGE, LAUNCH, 1))


def test_check_fails_notebooks_without_outputs_or_install_cell(tmp_path):
    site = _site(tmp_path, outputs=False)
    problems = launch_check.page_problems(site, PAGE, LAUNCH, 1)
    assert len([p for p in problems if "0 code cells with outputs" in p]) == 3  # Colab, Binder, download
    assert launch_check.site_problems(site, LAUNCH) == ["notebooks/00_x.ipynb has no outputs"]
    # More outputs in the execution cache than in the notebook: outputs were lost.
    site = _site(tmp_path / "fewer")
    assert any("the execution cache has 2" in p for p in launch_check.page_problems(site, PAGE, LAUNCH, 2))
    notebook = nbformat.read(site / "notebooks/00_x.ipynb", as_version=4)
    del notebook.cells[:2]
    nbformat.write(notebook, site / "notebooks/00_x.ipynb")
    problems = launch_check.page_problems(site, PAGE, LAUNCH, 1)
    assert any("not the install note" in p for p in problems)
    assert any("not the install cell" in p for p in problems)


def test_check_fails_a_site_without_binder_environment_or_nojekyll(tmp_path):
    site = _site(tmp_path)
    (site / ".nojekyll").unlink()
    (site / ".binder/requirements.txt").write_text("gaussianization\n")
    problems = launch_check.site_problems(site, LAUNCH)
    assert len(problems) == 2 and problems[0].startswith(".nojekyll") and "does not install from" in problems[1]
    (site / PAGE).write_text("<p>no buttons</p>")
    assert launch_check.page_problems(site, PAGE, LAUNCH, 1) == [
        f"no Colab link starting {LAUNCH.colab_prefix}", f"no Binder link starting {LAUNCH.binder_prefix}",
        "no .ipynb download button"]


# ---- the install cell, run for real -----------------------------------------------------------------

def _overlay(tmp_path) -> Path:
    """Links to everything this environment has installed, except the package itself."""
    overlay = tmp_path / "site-packages"
    overlay.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        name = entry.name.lower()
        if not (name.startswith(("gaussianization", "__editable__")) or name.endswith(".pth")):
            (overlay / entry.name).symlink_to(entry)
    return overlay


def _run(python, code, env, cwd):
    start = time.monotonic()
    result = subprocess.run([str(python), "-c", code], env=env, cwd=cwd, capture_output=True, text=True,
                            timeout=600)
    return result, time.monotonic() - start


def test_install_cell_installs_once_then_does_nothing(tmp_path):
    # A fresh virtual environment that sees this environment's packages (Keras, TensorFlow, pip,
    # setuptools, matplotlib) through a .pth file, but not gaussianization: no dist-info, no editable
    # finder (a directory named in a .pth file is added to sys.path, its own .pth files are not run).
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin/python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    Path(purelib, "project.pth").write_text(f"{_overlay(tmp_path)}\n")
    # The package from a copy of this checkout (pip builds in the source tree), without the network.
    source = tmp_path / "src"
    shutil.copytree(ROOT / "gaussianization", source / "gaussianization",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source)
    env = {key: value for key, value in os.environ.items()
           if key not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV") and not key.startswith("PIP_")}
    env.update(PIP_NO_INDEX="1", PIP_NO_BUILD_ISOLATION="0", PIP_CACHE_DIR=str(tmp_path / "pip-cache"),
               TF_CPP_MIN_LOG_LEVEL="2", KERAS_BACKEND="tensorflow",
               **{extension.INSTALL_SOURCE_VARIABLE: f"gaussianization[plot] @ {source.as_uri()}"})
    cwd = tmp_path  # not the checkout: `python -c` puts the working directory on sys.path

    missing, _ = _run(python, "import gaussianization", env, cwd)
    assert "No module named 'gaussianization'" in missing.stderr

    cell = extension.install_cell_source(URL)
    # The cell, then the chapter's import in the same process (as in a notebook's kernel).
    script = (f"import time\nstart = time.monotonic()\n{cell}\ncell_seconds = time.monotonic() - start\n"
              "import gaussianization, sys\nsys.stdout.write(f'{gaussianization.__file__} {cell_seconds:.1f}')")
    first, first_seconds = _run(python, script, env, cwd)
    assert first.returncode == 0, first.stderr
    assert first.stderr == ""  # quiet: the cell prints nothing, nor does the import after it
    installed, cell_seconds = first.stdout.rsplit(" ", 1)
    assert installed == str(Path(purelib, "gaussianization/__init__.py"))  # installed into the fresh venv
    # Installed now: the cell skips pip (an unusable source would fail), prints nothing, and is fast.
    env[extension.INSTALL_SOURCE_VARIABLE] = str(tmp_path / "no-such-source")
    second, second_seconds = _run(python, cell, env, cwd)
    assert (second.returncode, second.stdout, second.stderr) == (0, "", "")
    assert second_seconds < 5, second_seconds
    print(f"install cell: {cell_seconds} s installing ({first_seconds:.1f} s with the import), "
          f"{second_seconds:.2f} s the second time")
