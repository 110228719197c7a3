"""Gaussianization flows: the companion package of the tutorial book.

Subpackages and modules:

* :mod:`gaussianization.gauss_keras` — the Keras 3 flow library;
* :mod:`gaussianization.datasets` — two moons and spiral with exact log-densities;
* :mod:`gaussianization.metrics` — NLL, KL gap to the truth, RBIG diagnostics, k-NN baselines;
* :mod:`gaussianization.information` — total correlation, entropy and mutual information by RBIG;
* :mod:`gaussianization.tutorial` — the chapter-2 teaching code (Newton's method, the banana target);
* :mod:`gaussianization.plotting` — the book's one plotting style (needs the ``plot`` extra);
* :mod:`gaussianization.notebook` — :func:`setup`, the first call of every chapter, and
  :func:`table`, a chapter's results as a rendered table.

Importing the package imports the flow library, so every Keras class of it is registered and
``keras.saving.load_model`` reads saved flows. TensorFlow is imported quietly
(:func:`gaussianization.notebook.quiet_tensorflow_import`: its start-up notices are filtered,
``TF_CPP_MIN_LOG_LEVEL`` and ``KERAS_BACKEND`` default to 2 and ``tensorflow`` unless set);
with ``KERAS_BACKEND=jax`` or ``torch`` it is imported only if it is installed.
"""

from gaussianization.notebook import quiet_tensorflow_import, setup, table

quiet_tensorflow_import()

from gaussianization import gauss_keras  # noqa: E402  (registers the Keras classes)

__all__ = ["gauss_keras", "setup", "table"]
__version__ = "0.2.0"
