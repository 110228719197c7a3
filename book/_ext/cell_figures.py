"""Sphinx extension (local to this book): one figure syntax for Jupyter Book 1 and mystmd.

A code cell whose output is a numbered, captioned figure carries two options::

    ```{code-cell} ipython3
    ---
    label: fig-02-data
    caption: |-
      The 5,000 standardised training points, with the histogram of each coordinate.
    ---
    ```

``label`` and ``caption`` are mystmd's own code-cell options: mystmd (Jupyter Book 2) wraps
the cell's output in a figure with that label and caption. myst-nb (Jupyter Book 1) reads the
same options as plain cell metadata and knows figures only as ``mystnb: {figure: {name,
caption}}``, an option mystmd rejects. So that the notebooks need one spelling, this extension
makes myst-nb read ``label``/``caption`` as that figure option: the cell's outputs become a
``figure`` node named ``label`` (a ``{numref}`` target, "Figure 3.2") with the caption parsed as
MyST, exactly as ``mystnb.figure`` would. A cell that spells ``mystnb.figure`` itself keeps it.
"""

from __future__ import annotations

import functools

from myst_nb.core.config import NbParserConfig

_FIELD = "render_figure_options"


def figure_options(cell_metadata) -> dict | None:
    """The myst-nb figure options a cell's mystmd ``label``/``caption`` stand for, if any."""
    label, caption = cell_metadata.get("label"), cell_metadata.get("caption")
    if not (isinstance(label, str) and isinstance(caption, str)):
        return None
    return {"name": label, "caption": caption}


def _patch(get_cell_level_config):
    @functools.wraps(get_cell_level_config)
    def wrapper(self, field_name, cell_metadata, warning_callback):
        if field_name == _FIELD and "figure" not in (cell_metadata.get(self.cell_metadata_key) or {}):
            options = figure_options(cell_metadata)
            if options is not None:
                return options
        return get_cell_level_config(self, field_name, cell_metadata, warning_callback)

    wrapper.cell_figures_patched = True
    return wrapper


def setup(app):
    if not getattr(NbParserConfig.get_cell_level_config, "cell_figures_patched", False):
        NbParserConfig.get_cell_level_config = _patch(NbParserConfig.get_cell_level_config)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
