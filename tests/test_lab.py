"""``make lab`` works: JupyterLab serves every chapter as a notebook and runs it in the project's kernel.

JupyterLab is started the way ``make lab`` starts it (``book/_lab/jupyter_server_config.py``, root
``notebooks/``), headless, on a port the OS picks on 127.0.0.1, with a random token. Jupyter's
config, data and runtime directories point at a temporary directory, so nothing of the user's
own Jupyter setup is read or written; the kernels and JupyterLab's settings come from ``.venv``
(``make kernel`` and ``make lab`` install them there; ``make test`` does so before the unit tests).
Through the server's REST API the tests

* ask for every chapter ``notebooks/NN_*.md`` and check that it arrives as a notebook with cells;
* start the project's kernel (``gaussianization``), run the first code cell of chapter 00 over the
  kernel's websocket and check its output, and that nothing was written to stderr;
* check that the kernel the chapters name in their front matter runs this same environment;
* check JupyterLab's settings carry ``book/_lab/overrides.json`` (``.md`` opens as a notebook, no
  autosave, no news or update checks);
* open the chapter in headless Chromium (as ``tests/site_check.py`` does) and find its first cell
  rendered as a notebook cell, with no request leaving the machine.

The server is shut down at the end, its kernels first; no process is left behind.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
CHAPTERS = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.md"))
CONFIG = ROOT / "book" / "_lab" / "jupyter_server_config.py"
KERNEL = "gaussianization"
START_TIMEOUT_S = 60
EXECUTE_TIMEOUT_S = 120


def _source(cell: dict) -> str:
    source = cell["source"]
    return source if isinstance(source, str) else "".join(source)


class LabServer:
    """A JupyterLab server in a subprocess, and small clients for its REST and kernel APIs."""

    def __init__(self, workdir: Path):
        try:
            import jupyter_server  # noqa: F401 -- only to fail with a clear message
            import jupyterlab  # noqa: F401
            import jupytext  # noqa: F401
            import tornado.websocket  # noqa: F401
        except ImportError as err:  # a dependency of the `test` extra: never skip
            pytest.fail(f"{err.name} is missing: install the test extra (pip install -e '.[test]')")
        self.token, self.url = secrets.token_hex(16), ""
        self.runtime = workdir / "runtime"
        self.log_path = workdir / "server.log"
        env = dict(os.environ)
        env.pop("GAUSSIANIZATION_SEED", None)
        env.update(JUPYTER_CONFIG_DIR=str(workdir / "config"), JUPYTER_DATA_DIR=str(workdir / "data"),
                   JUPYTER_RUNTIME_DIR=str(self.runtime))
        # The environment `make lab` exports (the Makefile's), should pytest be run on its own.
        for key, value in {"TF_CPP_MIN_LOG_LEVEL": "2", "KERAS_BACKEND": "tensorflow",
                           "PYDEVD_DISABLE_FILE_VALIDATION": "1"}.items():
            env.setdefault(key, value)
        # JupyterLab checkpoints every file it opens (in notebooks/.ipynb_checkpoints/ under
        # `make lab`); the test keeps its checkpoints in the temporary directory instead.
        command = [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--config={CONFIG}",
                   f"--ServerApp.root_dir={NOTEBOOKS}", "--port=0", "--ServerApp.port_retries=0",
                   f"--IdentityProvider.token={self.token}",
                   f"--FileCheckpoints.checkpoint_dir={workdir / 'checkpoints'}"]
        if os.geteuid() == 0:
            command.append("--allow-root")  # as `make lab` does
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env,
                                            cwd=workdir, start_new_session=True)
        self.url = self._wait_until_up()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def _wait_until_up(self) -> str:
        """The server's base URL, once ``/api/status`` answers; fails with the server's log."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"JupyterLab exited with code {self.process.returncode}:\n{self.log()}")
            for info in self.runtime.glob("jpserver-*.json"):
                try:
                    url = json.loads(info.read_text())["url"].rstrip("/")
                    self.url = url
                    self.api("GET", "/api/status")
                    return url
                except (ValueError, KeyError, OSError):
                    pass  # file half written, or server not answering yet
            time.sleep(0.25)
        self.stop()
        pytest.fail(f"JupyterLab did not answer within {START_TIMEOUT_S} s:\n{self.log()}")

    def api(self, method: str, path: str, body: dict | None = None):
        """One REST call; the decoded JSON answer (None when there is no body)."""
        request = urllib.request.Request(
            self.url + path, method=method, data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            data = response.read()
        return json.loads(data) if data else None

    def execute(self, kernel_id: str, code: str) -> tuple[dict, list[dict]]:
        """Run ``code`` in a kernel over its websocket: the execute reply and the iopub outputs."""
        return asyncio.run(asyncio.wait_for(self._execute(kernel_id, code), EXECUTE_TIMEOUT_S))

    async def _execute(self, kernel_id: str, code: str) -> tuple[dict, list[dict]]:
        from tornado.httpclient import HTTPRequest
        from tornado.websocket import websocket_connect

        session = uuid.uuid4().hex
        ws_url = self.url.replace("http://", "ws://", 1)
        connection = await websocket_connect(HTTPRequest(
            f"{ws_url}/api/kernels/{kernel_id}/channels?session_id={session}",
            headers={"Authorization": f"token {self.token}"}))
        msg_id = uuid.uuid4().hex
        await connection.write_message(json.dumps({
            "channel": "shell",
            "header": {"msg_id": msg_id, "msg_type": "execute_request", "session": session,
                       "username": "test_lab", "version": "5.3"},
            "parent_header": {}, "metadata": {}, "buffers": [],
            "content": {"code": code, "silent": False, "store_history": True,
                        "user_expressions": {}, "allow_stdin": False, "stop_on_error": True},
        }))
        reply, outputs, idle = None, [], False
        try:
            while reply is None or not idle:
                raw = await connection.read_message()
                assert raw is not None, "the kernel's websocket closed before the cell finished"
                message = json.loads(raw)
                if message.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                kind = message["header"]["msg_type"]
                if message["channel"] == "shell" and kind == "execute_reply":
                    reply = message["content"]
                elif kind == "status":
                    idle = message["content"]["execution_state"] == "idle"
                elif kind in ("stream", "execute_result", "display_data", "error"):
                    outputs.append({"type": kind, **message["content"]})
        finally:
            connection.close()
        return reply, outputs

    def stop(self) -> None:
        """Shut down every kernel, then the server (SIGTERM, then SIGKILL of its process group)."""
        if self.process.poll() is None:
            try:
                for kernel in self.api("GET", "/api/kernels"):
                    self.api("DELETE", f"/api/kernels/{kernel['id']}")
            except (OSError, ValueError):
                pass  # the server is not answering: stop it all the same
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


def _process_gone(pid: int) -> bool:
    """True when ``pid`` no longer runs (on Linux a zombie waiting to be reaped counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:  # it ended in between (Linux); with no /proc at all, it runs
        return Path("/proc/self").exists()


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    server = LabServer(tmp_path_factory.mktemp("lab"))
    try:
        yield server
    finally:
        server.stop()
    assert server.process.returncode is not None


def _listing() -> list[str]:
    return sorted(str(p.relative_to(NOTEBOOKS)) for p in NOTEBOOKS.rglob("*"))


@pytest.fixture(scope="module")
def served(lab):
    """Every chapter as the contents API serves it, by file name; ``notebooks/`` before and after."""
    before = _listing()
    models = {path.name: lab.api("GET", f"/api/contents/{path.name}") for path in CHAPTERS}
    return models, before, _listing()


@pytest.fixture(scope="module")
def chapters(served):
    return served[0]


def run_in_new_kernel(lab, name: str, code: str) -> tuple[dict, list[dict], int | None]:
    """Start kernel ``name`` through the server, run ``code``, delete the kernel.

    Returns the execute reply, the outputs and the pid of the kernel's process (printed by the
    kernel itself), after checking that this process has ended.
    """
    kernel = lab.api("POST", "/api/kernels", {"name": name})
    try:
        reply, outputs = lab.execute(kernel["id"], code + "\nimport os; print('pid', os.getpid())")
    finally:
        lab.api("DELETE", f"/api/kernels/{kernel['id']}")
    text = "".join(out.get("text", "") for out in outputs if out["type"] == "stream")
    pid = int(text.rsplit("pid ", 1)[1]) if "pid " in text else None
    if pid is not None:
        deadline = time.monotonic() + 10
        while not _process_gone(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _process_gone(pid), f"kernel process {pid} still runs after DELETE"
    return reply, outputs, pid


def test_every_chapter_arrives_as_a_notebook(chapters):
    assert chapters, f"no chapters notebooks/NN_*.md found in {NOTEBOOKS}"
    for name, model in chapters.items():
        assert model["type"] == "notebook", f"{name} arrives as {model['type']!r}, not as a notebook"
        cells = model["content"]["cells"]
        assert cells, f"{name} arrives with no cells"
        code = [cell for cell in cells if cell["cell_type"] == "code"]
        assert code and "gz.setup()" in _source(code[0]), f"{name}: first code cell is not the setup cell"
        assert any(cell["cell_type"] == "markdown" for cell in cells), f"{name} has no markdown cells"


def test_serving_the_chapters_writes_no_file(served):
    # jupytext pairs no .ipynb with the chapters, and reading them saves nothing.
    _, before, after = served
    assert after == before, f"serving the chapters changed notebooks/: {sorted(set(after) ^ set(before))}"


def test_project_kernel_runs_the_first_cell_of_a_chapter(lab, chapters):
    specs = lab.api("GET", "/api/kernelspecs")
    assert KERNEL in specs["kernelspecs"], (
        f"kernel {KERNEL!r} is not registered in this environment (found {sorted(specs['kernelspecs'])}): "
        "run `make kernel`")
    assert specs["kernelspecs"][KERNEL]["spec"]["display_name"] == "Python (gaussianization)"
    assert specs["default"] == KERNEL, "lab/jupyter_server_config.py was not applied"
    model = chapters[CHAPTERS[0].name]
    first = next(_source(cell) for cell in model["content"]["cells"] if cell["cell_type"] == "code")
    check = "import sys\nprint('seed', SEED, 'version', gz.__version__)\nprint('prefix', sys.prefix)"
    reply, outputs, pid = run_in_new_kernel(lab, KERNEL, first + "\n" + check)
    assert reply["status"] == "ok", f"the first cell failed: {reply}"
    stderr = [out for out in outputs if out["type"] == "stream" and out["name"] == "stderr"]
    assert not stderr, f"the first cell wrote to stderr: {''.join(out['text'] for out in stderr)}"
    stdout = "".join(out["text"] for out in outputs if out["type"] == "stream")
    import gaussianization

    assert f"seed 0 version {gaussianization.__version__}\n" in stdout, stdout
    assert f"prefix {sys.prefix}\n" in stdout, f"the kernel runs another Python: {stdout}"
    assert pid is not None, stdout


def test_kernel_the_chapters_name_is_this_environment(lab, chapters):
    names = {model["content"]["metadata"]["kernelspec"]["name"] for model in chapters.values()}
    assert len(names) == 1, f"the chapters name different kernels: {names}"
    reply, outputs, _ = run_in_new_kernel(lab, names.pop(), "import sys; print('prefix', sys.prefix)")
    assert reply["status"] == "ok", reply
    stdout = "".join(out.get("text", "") for out in outputs if out["type"] == "stream")
    assert f"prefix {sys.prefix}\n" in stdout, f"the chapters' kernel runs another Python: {stdout}"


def test_jupyterlab_has_the_settings_of_lab_overrides(lab):
    """lab/overrides.json is installed: `.md` opens as a notebook, no autosave, no news or updates."""
    overrides = json.loads((ROOT / "book" / "_lab" / "overrides.json").read_text())
    for plugin, wanted in overrides.items():
        # Overrides replace the schema's defaults; the (temporary, empty) user settings come on top.
        answer = lab.api("GET", f"/lab/api/settings/{plugin}")
        for key, value in wanted.items():
            served = answer["settings"].get(key, answer["schema"]["properties"][key].get("default"))
            assert served == value, (
                f"{plugin} {key} is {served!r}, not {value!r}: "
                "copy book/_lab/overrides.json into .venv with `make lab` (or `make test`)")


def test_jupyterlab_renders_the_chapter_as_a_notebook(lab, served):
    """The chapter opens, by its default viewer, as a notebook in JupyterLab; nothing leaves the machine."""
    from playwright.sync_api import sync_playwright

    from tests.site_check import CHROMIUM, CHROMIUM_ARGS

    external = []

    def fence(route):
        url = route.request.url
        if url.startswith((lab.url, "data:", "blob:", "about:")):
            route.continue_()
        else:
            external.append(url)
            route.abort()

    name = CHAPTERS[0].name
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.route("**/*", fence)
            page.goto(f"{lab.url}/lab/tree/{name}?token={lab.token}", timeout=60_000)
            notebook = page.locator(".jp-NotebookPanel")
            # The chapter's title as a rendered markdown cell, its first code cell as an editor.
            notebook.locator(".jp-MarkdownCell .jp-RenderedMarkdown h1").first.wait_for(timeout=60_000)
            title = notebook.locator(".jp-MarkdownCell .jp-RenderedMarkdown h1").first.inner_text()
            code = notebook.locator(".jp-CodeCell .cm-content", has_text="gz.setup()").first
            code.wait_for(timeout=30_000)
            first_code = notebook.locator(".jp-CodeCell .cm-content").first.inner_text()
        finally:
            browser.close()
    assert title.startswith("Change of variables"), title
    assert "import gaussianization as gz" in first_code and "gz.setup()" in first_code, first_code
    assert not external, f"JupyterLab requested from the network: {external}"
    assert _listing() == served[1], (
        f"opening the chapter in JupyterLab changed notebooks/: {sorted(set(_listing()) ^ set(served[1]))}")
