"""Jupyter settings of ``make lab`` and ``tests/test_lab.py``, passed with ``--config``.

Only the project's own settings are here; JupyterLab reads nothing else from this repository
(``book/_lab/overrides.json`` is copied into ``.venv`` by ``make lab``). Nothing is fetched from the
network while JupyterLab runs.
"""

c = get_config()  # noqa: F821 -- provided by traitlets when it loads this file

# Loopback only: the server is never reachable from another machine.
c.ServerApp.ip = "127.0.0.1"
# jupytext's contents manager: the MyST `.md` chapters open as notebooks and save back to `.md`
# (no paired `.ipynb` is written next to them).
c.ServerApp.contents_manager_class = "jupytext.AsyncTextFileContentsManager"
# New notebooks and consoles start the project's kernel (registered in .venv by `make kernel`).
c.MappingKernelManager.default_kernel_name = "gaussianization"
# No news feed, no update check, no extension catalogue from PyPI: JupyterLab stays offline.
c.LabApp.news_url = None
c.LabApp.check_for_updates_class = "jupyterlab.NeverCheckForUpdate"
c.LabApp.extension_manager = "readonly"
