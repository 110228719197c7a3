"""Checks of arguments and data at the library's entry points, written once.

**Input policy** (:func:`as_float_input`, used by every bijector and flow method that takes data):

* float32 and float64 inputs are computed in their own dtype;
* float16 and bfloat16 inputs are promoted to float32 (their range and precision are too small for
  log-space CDFs: in float16, 71 of 1,089 grid points of a diagonal flow were NaN) and the
  results are cast back to the input dtype;
* int, uint and bool inputs are cast to the layer's float dtype (``compute_dtype``);
* lists and tuples of Python numbers are read in the layer's float dtype; NumPy arrays and other
  array-likes with a dtype follow the rules above;
* anything else (complex, strings, objects) raises TypeError naming the dtype.

**Arguments**: :func:`check_int` (counts: an ``int`` or NumPy integer, never a bool or a float),
:func:`check_positive` (finite and > 0), :func:`check_finite`, :func:`check_hidden` (a
sequence of positive ints) and :func:`check_seed`. Each raises TypeError for the wrong type and
ValueError for a value out of range, naming the argument and the value it got.

**Data**: :func:`finite_rows` raises ValueError naming how many rows are not finite and which.
"""

from __future__ import annotations

import math
import numbers

import keras
import numpy as np
from keras import ops

__all__ = ["as_float_input", "cast_results", "check_finite", "check_hidden", "check_int", "check_positive", "check_seed",
           "finite_rows", "nonfinite_rows_message"]

#: Dtypes computed as they are.
COMPUTE_DTYPES = ("float32", "float64")
#: Dtypes promoted to float32 for the computation and cast back afterwards.
PROMOTED_DTYPES = ("float16", "bfloat16")


def _describe(value):
    return f"{value!r} (type {type(value).__name__})"


def check_int(value, name: str, minimum: int = 1, who: str | None = None) -> int:
    """``value`` as a Python ``int`` ``≥ minimum``. TypeError for bools, floats and non-numbers."""
    prefix = f"{who}: " if who else ""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Integral, np.integer)):
        raise TypeError(f"{prefix}{name} must be an integer; got {_describe(value)}.")
    value = int(value)
    if value < minimum:
        raise ValueError(f"{prefix}{name} must be >= {minimum}; got {value}.")
    return value


def _check_real(value, name, who):
    prefix = f"{who}: " if who else ""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        raise TypeError(f"{prefix}{name} must be a real number; got {_describe(value)}.")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{prefix}{name} must be finite; got {value}.")
    return value


def check_finite(value, name: str, who: str | None = None) -> float:
    """``value`` as a finite Python ``float``."""
    return _check_real(value, name, who)


def check_positive(value, name: str, who: str | None = None) -> float:
    """``value`` as a finite Python ``float`` ``> 0``."""
    value = _check_real(value, name, who)
    if not value > 0.0:
        raise ValueError(f"{(who + ': ') if who else ''}{name} must be > 0; got {value}.")
    return value


def check_hidden(hidden, name: str = "hidden", who: str | None = None) -> tuple:
    """``hidden`` as a tuple of positive ints (``()`` allowed: no hidden layer)."""
    prefix = f"{who}: " if who else ""
    if isinstance(hidden, (str, bytes)) or not isinstance(hidden, (list, tuple, np.ndarray)):
        raise TypeError(f"{prefix}{name} must be a sequence of hidden layer widths, e.g. (64, 64); "
                        f"got {_describe(hidden)}.")
    widths = []
    for i, h in enumerate(list(hidden)):
        try:
            widths.append(check_int(h, f"{name}[{i}]", 1))
        except (TypeError, ValueError) as error:
            raise type(error)(f"{prefix}hidden layer widths must be integers >= 1; {name}[{i}] is "
                              f"{_describe(h)}.") from None
    return tuple(widths)


def check_seed(seed, name: str = "seed", who: str | None = None):
    """``None`` or a non-negative ``int`` (NumPy integers accepted)."""
    return None if seed is None else check_int(seed, name, 0, who)


# -- data ------------------------------------------------------------------------------------


def nonfinite_rows_message(bad_rows, name: str, n: int) -> str:
    """``"X has 2 of 100 rows with NaN or infinite values (rows 3, 7)"``: the shared wording."""
    shown = ", ".join(str(int(i)) for i in bad_rows[:10]) + (", ..." if len(bad_rows) > 10 else "")
    return f"{name} has {len(bad_rows)} of {n} rows with NaN or infinite values (rows {shown})"


def finite_rows(x, name: str = "X", who: str | None = None, dtype="float64") -> np.ndarray:
    """``x`` as a NumPy ``(n, d)`` array of ``dtype`` whose values are all finite.

    Raises ValueError (naming how many rows are bad and the first ten of them) otherwise, and for
    a rank other than 2.
    """
    prefix = f"{who}: " if who else ""
    x = np.asarray(x)
    if x.dtype.kind not in "biuf":
        raise TypeError(f"{prefix}{name} must hold real numbers; got dtype {x.dtype}.")
    x = x.astype(dtype)
    if x.ndim != 2:
        raise ValueError(f"{prefix}{name} must have shape (n, d); got shape {x.shape}.")
    finite = np.isfinite(x)
    if not finite.all():
        bad = np.flatnonzero(~finite.all(axis=1))
        raise ValueError(f"{prefix}{nonfinite_rows_message(bad, name, x.shape[0])}; remove or impute them first.")
    return x


# -- the input policy ----------------------------------------------------------------------


def _dtype_name(x) -> str:
    return keras.backend.standardize_dtype(x.dtype)


def as_float_input(x, compute_dtype, who: str):
    """``(tensor, result_dtype)``: ``x`` converted by the input policy (module docstring).

    ``tensor`` is ``x`` in the dtype to compute in; results should be cast to ``result_dtype``
    (None: leave them as they are). TypeError for a dtype the policy does not accept.
    """
    if not (hasattr(x, "shape") and hasattr(x, "dtype")) or isinstance(x, np.ndarray):
        python_numbers = not hasattr(x, "dtype")
        array = np.asarray(x)
        if array.dtype == object:
            raise TypeError(f"{who} expects numbers; got an array-like that NumPy reads as dtype object "
                            f"(ragged rows or non-numeric entries?).")
        if array.dtype.kind not in "biuf":
            raise TypeError(f"{who} computes in float32 or float64; got an input of dtype {array.dtype}.")
        if python_numbers and array.dtype.kind == "f":  # lists of Python floats: the layer's dtype
            array = array.astype(compute_dtype)
        # Promote half-precision NumPy data in NumPy: TensorFlow's own cast logs a oneDNN line.
        x = array.astype("float32") if array.dtype.kind == "f" and array.dtype.itemsize < 4 else array
        if x is not array:
            return ops.convert_to_tensor(x), _dtype_name(array)
    try:
        name = _dtype_name(x)
    except ValueError as error:
        raise TypeError(f"{who} computes in float32 or float64; got an input of dtype {x.dtype}.") from error
    if name in COMPUTE_DTYPES:
        return ops.convert_to_tensor(x), None
    if name in PROMOTED_DTYPES:
        return ops.cast(ops.convert_to_tensor(x), "float32"), name
    if name == "bool" or name.startswith(("int", "uint")):
        return ops.cast(ops.convert_to_tensor(x), compute_dtype), None
    raise TypeError(f"{who} computes in float32 or float64; got an input of dtype {name}. Convert it to a float "
                    f"array first.")


def cast_results(result_dtype, *tensors):
    """``tensors`` cast to ``result_dtype`` (unchanged when it is None)."""
    if result_dtype is None:
        return tensors
    return tuple(ops.cast(t, result_dtype) for t in tensors)
