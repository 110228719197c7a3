"""The chapter-2 teaching code of the book (NumPy, float64), kept out of the flow library.

* :mod:`gaussianization.tutorial.newton` — a 2-D affine coupling fitted by Newton's method (notebook 01);
* :mod:`gaussianization.tutorial.targets` — the banana target density, with hand-derived derivatives (notebooks 00 and 01).

Import the modules themselves, e.g. ``from gaussianization.tutorial import newton``.
"""
