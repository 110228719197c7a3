"""Loading saved flows with errors that say what is wrong with the file.

``flow.save("flow.keras")`` writes a Keras archive (a zip holding ``config.json`` and the
weights); ``keras.saving.load_model`` reads it back, and works as soon as
``gaussianization`` is imported (every class of the library is registered then). For a file that
is not such an archive, Keras says "File not found" or raises a zip or HDF5 error;
:func:`load_flow` checks the file first and says what is wrong.
"""

from __future__ import annotations

import json
import os
import zipfile

import keras

from .bijectors.flow import Flow

__all__ = ["load_flow"]

_REQUIRED_ENTRIES = ("config.json", "model.weights.h5")


def _not_a_flow(path, why):
    return ValueError(f"{os.fspath(path)!r} is not a valid saved flow (.keras file): {why}.")


def load_flow(path, *, compile: bool = True):
    """The :class:`~.bijectors.flow.Flow` saved at ``path`` by ``flow.save(path)``.

    Raises FileNotFoundError when there is no such file; ValueError naming the problem when the
    file is empty, truncated, not a Keras archive, or holds something other than a flow.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No saved flow at {os.fspath(path)!r}: the file does not exist.")
    size = os.path.getsize(path)
    if size == 0:
        raise _not_a_flow(path, "the file is empty")
    if not zipfile.is_zipfile(path):
        raise _not_a_flow(path, f"it is not a zip archive ({size} bytes; truncated or another format)")
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            missing = [entry for entry in _REQUIRED_ENTRIES if entry not in names]
            if missing:
                raise _not_a_flow(path, f"the archive has no {', '.join(missing)}")
            if archive.testzip() is not None:
                raise _not_a_flow(path, "the archive is corrupt (a CRC check failed)")
            config = json.loads(archive.read("config.json"))
    except (zipfile.BadZipFile, OSError, json.JSONDecodeError, EOFError) as error:
        raise _not_a_flow(path, f"the archive cannot be read ({error})") from error
    registered = str(config.get("registered_name") or config.get("class_name"))
    if not registered.startswith("gaussianization>"):
        raise _not_a_flow(path, f"it holds a {registered}, not a gaussianization flow")
    try:
        flow = keras.saving.load_model(path, compile=compile)
    except Exception as error:  # Keras raises many types for a damaged archive
        raise _not_a_flow(path, f"Keras could not rebuild it ({type(error).__name__}: {error})") from error
    if not isinstance(flow, Flow):
        raise _not_a_flow(path, f"it holds a {type(flow).__name__}, not a Flow")
    return flow
