"""The one call every chapter makes first: a quiet TensorFlow, the book's style, one seed.

``import gaussianization`` imports TensorFlow through :func:`quiet_tensorflow_import`, so it must
come before anything else imports TensorFlow (``keras`` included); a notebook's first cell is::

    import gaussianization as gz

    SEED = gz.setup()

Why the import needs care: TensorFlow 2.21 on CPUs with AVX-512 writes
``oneDNN custom operations are on ...`` (and an absl ``WARNING: All log messages
before absl::InitializeLog() ...`` line) straight to the process's stderr while it is
imported, whatever ``TF_CPP_MIN_LOG_LEVEL`` says. In a Jupyter kernel that becomes a
stderr output on the rendered page. :func:`quiet_tensorflow_import` imports TensorFlow
with file descriptor 2 pointed at a temporary file and re-emits every line except
the known start-up notices, so genuine errors still reach the user. It does not touch
``TF_ENABLE_ONEDNN_OPTS``: the kernel family, and so the float rounding, stays
whatever the machine and the user chose (the book is tested under both).

The seed comes from the environment variable ``GAUSSIANIZATION_SEED`` (default 0), so
``benchmarks/spread.py`` can re-run every chapter with other seeds and the book's
claims are checked against more than one draw.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import sys
import tempfile

#: Environment variable holding the seed of every random choice a chapter makes.
SEED_VARIABLE = "GAUSSIANIZATION_SEED"

#: Start-up notices TensorFlow writes to stderr while it is imported (never errors).
_STARTUP_NOTICES = re.compile(
    r"oneDNN custom operations are on"
    r"|All log messages before absl::InitializeLog\(\) is called"
    r"|cpu_feature_guard|This TensorFlow binary is optimized"
    r"|To enable the following instructions"
    r"|Unable to register cu(DNN|FFT|BLAS) factory"
    r"|computation placer already registered"
    r"|failed call to cuInit|TF-TRT Warning"
    r"|Could not find cuda drivers"
)


def seed_from_environment(default: int = 0) -> int:
    """The seed in ``$GAUSSIANIZATION_SEED``, or ``default`` when it is unset.

    Raises:
        ValueError: the variable is set but is not a non-negative integer.
    """
    raw = os.environ.get(SEED_VARIABLE, "").strip()
    if not raw:
        return int(default)
    if not raw.isdigit():
        raise ValueError(f"{SEED_VARIABLE} must be a non-negative integer, got {raw!r}")
    return int(raw)


@contextlib.contextmanager
def _stderr_filtered(pattern: re.Pattern):
    """Redirect file descriptor 2 to a temporary file; re-emit the lines ``pattern`` misses."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            text = sink.read().decode("utf-8", errors="replace")
            kept = [line for line in text.splitlines() if line.strip() and not pattern.search(line)]
            if kept:
                sys.stderr.write("\n".join(kept) + "\n")
                sys.stderr.flush()


def quiet_tensorflow_import() -> None:
    """Import TensorFlow without its start-up notices (a no-op once it is imported).

    Sets ``TF_CPP_MIN_LOG_LEVEL=2`` and ``KERAS_BACKEND=tensorflow`` unless the user set
    them. Lines other than the known notices are passed on to ``sys.stderr``. Under another
    Keras backend (``KERAS_BACKEND=jax`` or ``torch``) TensorFlow is imported only where it is
    installed: Keras imports it then anyway (``keras.utils.set_random_seed`` seeds it).
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    if "tensorflow" in sys.modules:
        return
    if os.environ["KERAS_BACKEND"] != "tensorflow" and importlib.util.find_spec("tensorflow") is None:
        return
    with _stderr_filtered(_STARTUP_NOTICES):
        import tensorflow  # noqa: F401


def setup(seed: int | None = None, *, style: bool = True) -> int:
    """Prepare a notebook: quiet TensorFlow import, the book's plot style, seeded RNGs.

    Args:
        seed: the seed for ``keras.utils.set_random_seed`` (Python, NumPy and the
            backend). ``None`` reads :data:`SEED_VARIABLE` (default 0).
        style: apply :func:`gaussianization.plotting.setup` as well (this needs matplotlib,
            the ``plot`` extra; ``style=False`` does not import it).

    Returns:
        The seed, for the chapter to derive every other random choice from.

    Raises:
        ValueError: ``seed`` (or the environment variable) is not a non-negative integer.
    """
    seed = seed_from_environment() if seed is None else seed
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    quiet_tensorflow_import()
    import keras

    keras.utils.set_random_seed(seed)
    if style:
        from gaussianization import plotting

        plotting.setup()
    return seed


class Table:
    """A table that Jupyter shows as a table (``text/markdown``) and a terminal as aligned text."""

    def __init__(self, header: list[str], rows: list[list[str]], align: str):
        self.header, self.rows, self.align = header, rows, align

    def _repr_markdown_(self) -> str:
        """A pipe table (``|`` in a cell escaped)."""
        rules = {"l": ":--", "r": "--:", "c": ":-:"}
        lines = [self.header, *self.rows]
        text = ["| " + " | ".join(cell.replace("|", "\\|") for cell in line) + " |" for line in lines]
        text.insert(1, "|" + "|".join(rules[a] for a in self.align) + "|")
        return "\n".join(text)

    def __repr__(self) -> str:
        """Columns padded to their widest cell, a rule of dashes under the header."""
        lines = [self.header, *self.rows]
        widths = [max(len(line[i]) for line in lines) for i in range(len(self.header))]
        pad = {"l": str.ljust, "r": str.rjust, "c": str.center}

        def fmt(line):
            return "  ".join(pad[a](cell, w) for cell, w, a in zip(line, widths, self.align)).rstrip()

        return "\n".join([fmt(self.header), "  ".join("-" * w for w in widths),
                          *(fmt(row) for row in self.rows)])


def table(header, rows, *, align=None) -> Table:
    """A chapter's results as a table: a real table on the site and in the PDF.

    The book renders markdown outputs as MyST (``nb_render_markdown_format: myst``), so the
    pipe table this returns is typeset as a table; its plain-text form (a terminal, the PDF) is
    the same table with padded columns. Cells are shown as ``str(cell)`` (format the numbers
    first).

    Args:
        header: the column titles, a sequence of ``m`` strings.
        rows: a sequence of rows, each a sequence of ``m`` cells.
        align: ``m`` characters, ``"l"``, ``"r"`` or ``"c"``; default: the first column left,
            the others right (numbers).

    Returns:
        A :class:`Table`, which Jupyter displays as the table.

    Raises:
        ValueError: a row or ``align`` does not have one entry per column, or ``align`` holds
            something other than ``l``, ``r``, ``c``.
    """
    header = [str(title) for title in header]
    columns = len(header)
    align = "l" + "r" * (columns - 1) if align is None else align
    if len(align) != columns or set(align) - set("lrc"):
        raise ValueError(f"align needs one of l, r, c per column ({columns}), got {align!r}")
    cells = [[str(cell) for cell in row] for row in rows]
    for number, row in enumerate(cells):
        if len(row) != columns:
            raise ValueError(f"row {number} has {len(row)} cells, the header {columns}")
    return Table(header, cells, align)
