"""The one place the book's plot style lives.

Every notebook calls :func:`gaussianization.setup` (which applies :func:`setup`) in its
first cell and then uses the helpers below, so figures look the same across the series
and no notebook carries a styling preamble of its own. Only matplotlib is used (no seaborn), which keeps
the rendered pages free of layout warnings.

matplotlib is an optional dependency (the ``plot`` extra, ``pip install "gaussianization[plot]"``):
the flow library never imports this module, and importing it without matplotlib raises an
:class:`ImportError` that says how to install it.
"""

from __future__ import annotations

import warnings

import numpy as np

try:
    import matplotlib as mpl
    import matplotlib.pyplot as plt
except ImportError as error:  # tests/test_import_boundaries.py checks this message
    raise ImportError(
        "gaussianization.plotting needs matplotlib, an optional dependency of gaussianization: "
        'pip install "gaussianization[plot]"',
        name=error.name,
    ) from error

#: Colour-blind-safe categorical palette (Okabe & Ito), used in this order.
PALETTE = (
    "#0072B2",  # blue: data
    "#D55E00",  # vermillion: latent / pushforward
    "#009E73",  # green: samples
    "#CC79A7",  # purple: errors / differences
    "#E69F00",  # orange: second model
    "#56B4E9",  # sky blue
    "#000000",  # black: references (exact density, N(0, 1))
)
DATA, LATENT, SAMPLES, ERROR, MODEL2, EXTRA, REFERENCE = PALETTE

#: Colour maps for densities and log-densities.
DENSITY_CMAP = "magma"
LOG_DENSITY_CMAP = "viridis"

_RC = {
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "savefig.bbox": "tight",
    "figure.constrained_layout.use": True,
    "figure.figsize": (6.4, 4.0),
    "font.size": 10.5,
    "axes.titlesize": 11.5,
    "axes.titleweight": "bold",
    "axes.labelsize": 10.5,
    "axes.edgecolor": "0.3",
    "axes.linewidth": 0.9,
    "axes.grid": True,
    "axes.axisbelow": True,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.prop_cycle": mpl.cycler(color=list(PALETTE)),
    "grid.color": "0.88",
    "grid.linewidth": 0.7,
    "legend.frameon": False,
    "lines.linewidth": 1.8,
    "image.cmap": LOG_DENSITY_CMAP,
    "mathtext.fontset": "cm",
}


def setup(*, quiet: bool = True) -> None:
    """Apply the book's plot style (and, by default, silence library chatter).

    :func:`gaussianization.setup` calls this; notebooks call that, not this. With
    ``quiet=True`` Python warnings from third-party plotting/ML code are silenced so
    they never reach a rendered page (TensorFlow's own start-up lines are handled by
    :func:`gaussianization.notebook.quiet_tensorflow_import`).
    """
    mpl.rcParams.update(_RC)
    if quiet:
        warnings.filterwarnings("ignore", category=UserWarning, module="matplotlib")
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)


def style_axes(ax, *, equal: bool = False, xlabel: str | None = None, ylabel: str | None = None,
               title: str | None = None):
    """Label an axis and optionally give it equal aspect; returns ``ax``."""
    if xlabel is not None:
        ax.set_xlabel(xlabel)
    if ylabel is not None:
        ax.set_ylabel(ylabel)
    if title is not None:
        ax.set_title(title)
    if equal:
        ax.set_aspect("equal")
    return ax


def scatter2d(ax, points, *, color=DATA, s: float = 3.0, alpha: float = 0.45, lim=None,
              label: str | None = None, title: str | None = None, names=("x_1", "x_2")):
    """Scatter an ``(n, 2)`` array with the book's marker style and equal axes."""
    points = np.asarray(points)
    ax.scatter(points[:, 0], points[:, 1], s=s, alpha=alpha, color=color, linewidths=0,
               label=label, rasterized=True)
    if lim is not None:
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
    return style_axes(ax, equal=True, xlabel=f"${names[0]}$", ylabel=f"${names[1]}$", title=title)


def joint_scatter(points, *, color=DATA, title: str | None = None, lim: float | None = None,
                  names=("x_1", "x_2"), normal_reference: bool = False, bins: int = 60,
                  size: float = 4.6):
    """A scatter plot of ``(n, 2)`` points with marginal histograms on two sides.

    With ``normal_reference=True`` the standard normal density is drawn over both
    marginals, which is how the book judges a pushforward by eye.
    Returns the figure.
    """
    points = np.asarray(points)
    fig, axd = plt.subplot_mosaic(
        [["top", "."], ["main", "right"]], figsize=(size, size),
        width_ratios=(4, 1), height_ratios=(1, 4),
    )
    main, top, right = axd["main"], axd["top"], axd["right"]
    scatter2d(main, points, color=color, lim=lim, names=names)
    edges = np.linspace(-lim, lim, bins + 1) if lim is not None else bins
    top.hist(points[:, 0], bins=edges, density=True, color=color, alpha=0.7)
    right.hist(points[:, 1], bins=edges, density=True, color=color, alpha=0.7,
               orientation="horizontal")
    if normal_reference:
        grid = np.linspace(*(main.get_xlim()), 300)
        pdf = np.exp(-0.5 * grid**2) / np.sqrt(2.0 * np.pi)
        top.plot(grid, pdf, color=REFERENCE, lw=1.4, label=r"$\mathcal{N}(0,1)$")
        right.plot(pdf, grid, color=REFERENCE, lw=1.4)
        top.legend(loc="upper left", fontsize=8.5, bbox_to_anchor=(1.0, 1.0))
    top.sharex(main)
    right.sharey(main)
    for ax in (top, right):
        ax.grid(False)
        ax.tick_params(labelbottom=False, labelleft=False, bottom=False, left=False)
        for side in ("top", "right", "left", "bottom"):
            ax.spines[side].set_visible(False)
    if title:
        fig.suptitle(title, fontweight="bold")
    return fig


def density_image(ax, xx, yy, values, *, log: bool = False, title: str | None = None,
                  colorbar: bool = True, vmin=None, vmax=None, names=("x_1", "x_2")):
    """Show a density (or log-density, ``log=True``) sampled on a meshgrid."""
    cmap = LOG_DENSITY_CMAP if log else DENSITY_CMAP
    mesh = ax.pcolormesh(xx, yy, values, cmap=cmap, shading="auto", vmin=vmin, vmax=vmax,
                         rasterized=True)
    ax.grid(False)
    style_axes(ax, equal=True, xlabel=f"${names[0]}$", ylabel=f"${names[1]}$", title=title)
    if colorbar:
        ax.figure.colorbar(mesh, ax=ax, shrink=0.8)
    return mesh


def grid_points(lim: float = 2.5, n: int = 200, dtype="float32"):
    """A square ``n × n`` grid on ``[-lim, lim]²``: returns ``(xx, yy, points)``, points ``(n², 2)``."""
    axis = np.linspace(-lim, lim, n)
    xx, yy = np.meshgrid(axis, axis)
    return xx, yy, np.stack([xx.ravel(), yy.ravel()], axis=-1).astype(dtype)


def loss_curve(ax, values, *, label: str | None = None, color=DATA, xlabel: str = "epoch",
               ylabel: str = "negative log-likelihood (nats)", reference: float | None = None,
               reference_label: str = "exact limit"):
    """Plot a training curve, optionally with a horizontal reference line."""
    ax.plot(np.arange(1, len(values) + 1), values, color=color, label=label)
    if reference is not None:
        ax.axhline(reference, color=REFERENCE, ls="--", lw=1.1, label=reference_label)
    return style_axes(ax, xlabel=xlabel, ylabel=ylabel)

