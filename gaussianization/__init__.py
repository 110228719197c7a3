"""Gaussianization flows: the companion package of the tutorial book.

Subpackages and modules:

* :mod:`gaussianization.gauss_keras` — the Keras 3 flow library;
* :mod:`gaussianization.datasets` — two moons and spiral with exact log-densities;
* :mod:`gaussianization.metrics` — NLL, KL gap to the truth, RBIG diagnostics;
* :mod:`gaussianization.tutorial` — the chapter-1 teaching code (Newton's method, the banana target);
* :mod:`gaussianization.plotting` — the book's one plotting style (needs the ``plot`` extra);
* :mod:`gaussianization.notebook` — :func:`setup`, the first call of every chapter.

Importing the package imports neither TensorFlow nor Keras.
"""

from gaussianization.notebook import setup

__all__ = ["setup"]
__version__ = "0.2.0"
