"""The one place the book's plot style lives, built on seaborn and matplotlib.

Every notebook calls :func:`gaussianization.setup` (which applies :func:`setup`) in its
first cell and then uses the helpers below, so figures look the same across the series
and no notebook carries a styling preamble of its own.

Figures are sized to the book's text column: :data:`COLUMN_WIDTH` inches (672 CSS pixels)
at most, drawn at :data:`DPI` = 96 dots per inch, so a point of font is a point on the page and
the labels are as large as the text around them. In a notebook, :func:`setup` switches
IPython's inline backend to ``retina``: each PNG holds twice as many pixels per inch (192) and
tells the page to show it at its design size, which is sharp on high-density screens; the
book's column (672 px at 1280 px) fits it unshrunk. Maths in labels uses DejaVu Sans, the
font of the labels themselves.

matplotlib and seaborn are optional dependencies (the ``plot`` extra, ``pip install
"gaussianization[plot]"``): the flow library never imports this module, and importing it
without them raises an :class:`ImportError` that says how to install them.
"""

from __future__ import annotations

import warnings

import numpy as np

try:
    import matplotlib as mpl
    import matplotlib.pyplot as plt
    import pandas as pd
    import seaborn as sns
except ImportError as error:  # tests/test_import_boundaries.py checks this message
    raise ImportError(
        "gaussianization.plotting needs matplotlib and seaborn, optional dependencies of "
        'gaussianization: pip install "gaussianization[plot]"',
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

#: Widest figure, in inches, that the page shows at its design size (672 CSS px at 96 dpi).
COLUMN_WIDTH = 7.0
#: Dots per inch of a figure's design size (the CSS pixel); PNGs in a notebook carry twice as many.
DPI = 96

_RC = {
    "figure.dpi": DPI,
    "savefig.dpi": 2 * DPI,
    "savefig.bbox": "tight",
    "figure.constrained_layout.use": True,
    "figure.figsize": (6.0, 3.9),
    "font.size": 10.5,
    "axes.titlesize": 11.0,
    "axes.titleweight": "bold",
    "axes.labelsize": 10.5,
    "xtick.labelsize": 9.5,
    "ytick.labelsize": 9.5,
    "legend.fontsize": 9.5,
    "legend.title_fontsize": 9.5,
    "figure.titlesize": 11.5,
    "figure.titleweight": "bold",
    "axes.edgecolor": "0.3",
    "axes.linewidth": 0.9,
    "axes.axisbelow": True,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "grid.color": "0.88",
    "grid.linewidth": 0.7,
    "legend.frameon": False,
    "lines.linewidth": 1.8,
    "image.cmap": LOG_DENSITY_CMAP,
    # One font for labels and the maths inside them.
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],
    "mathtext.fontset": "dejavusans",
}


def setup(*, quiet: bool = True) -> None:
    """Apply the book's plot style (and, by default, silence library chatter).

    :func:`gaussianization.setup` calls this; notebooks call that, not this. It sets seaborn's
    ``whitegrid`` theme with the book's palette and sizes (:data:`PALETTE`, ``_RC``), and, inside
    IPython, the inline backend's ``retina`` format. With ``quiet=True`` Python warnings from
    third-party plotting/ML code are silenced so they never reach a rendered page (TensorFlow's
    own start-up lines are handled by :func:`gaussianization.notebook.quiet_tensorflow_import`).
    """
    sns.set_theme(context="notebook", style="whitegrid", palette=list(PALETTE), rc=_RC)
    _retina_inline_figures()
    if quiet:
        warnings.filterwarnings("ignore", category=UserWarning, module="matplotlib")
        warnings.filterwarnings("ignore", category=UserWarning, module="seaborn")
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)


def _retina_inline_figures() -> None:
    """Inside IPython, show figures as 2x PNGs at their design size (a no-op elsewhere)."""
    try:
        from IPython import get_ipython
        from matplotlib_inline.backend_inline import set_matplotlib_formats
    except ImportError:
        return
    if get_ipython() is not None:
        set_matplotlib_formats("retina")


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
                  size: float = 4.4):
    """A scatter plot of ``(n, 2)`` points with its two marginal histograms (seaborn's ``JointGrid``).

    Both axes span the same range (``[-lim, lim]``, or the data's), so the square joint panel has
    equal scales and the marginals line up with it. With ``normal_reference=True`` the standard
    normal density is drawn over both marginals, which is how the book judges a pushforward by
    eye. Returns the figure, ``size`` inches square.

    Raises:
        ValueError: ``points`` is not of shape ``(n, 2)``.
    """
    points = np.asarray(points, dtype=float)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"joint_scatter needs points of shape (n, 2), got {points.shape}")
    if lim is None:
        low, high = float(points.min()), float(points.max())
    else:
        low, high = -float(lim), float(lim)
    # JointGrid places its panels with subplots_adjust, which a layout engine would fight.
    with mpl.rc_context({"figure.constrained_layout.use": False}):
        grid = sns.JointGrid(x=points[:, 0], y=points[:, 1], height=size, ratio=4, space=0.08,
                             xlim=(low, high), ylim=(low, high))
    grid.plot_joint(sns.scatterplot, s=4, alpha=0.45, color=color, linewidth=0, rasterized=True)
    edges = np.linspace(low, high, bins + 1)
    grid.plot_marginals(sns.histplot, bins=edges, stat="density", color=color, alpha=0.7,
                        linewidth=0)
    if normal_reference:
        axis = np.linspace(low, high, 300)
        pdf = np.exp(-0.5 * axis**2) / np.sqrt(2.0 * np.pi)
        grid.ax_marg_x.plot(axis, pdf, color=REFERENCE, lw=1.4, label=r"$\mathcal{N}(0,1)$")
        grid.ax_marg_y.plot(pdf, axis, color=REFERENCE, lw=1.4)
        grid.ax_marg_x.legend(loc="upper left", bbox_to_anchor=(1.0, 1.05))
    for ax in (grid.ax_marg_x, grid.ax_marg_y):
        ax.grid(False)
    grid.set_axis_labels(f"${names[0]}$", f"${names[1]}$")
    grid.ax_joint.grid(True)
    fig = grid.figure
    if title:
        fig.suptitle(title)
        fig.subplots_adjust(top=0.92)
    # Make the joint panel square (equal scales on both axes) by the figure's height alone: the
    # panels are placed in fractions of the figure, so they stay aligned.
    box = grid.ax_joint.get_position()
    fig.set_figheight(fig.get_figwidth() * box.width / box.height)
    return fig


def pair_plot(points, *, names=None, color=DATA, lim: float | None = None, size: float | None = None,
              bins: int = 40, normal_reference: bool = False):
    """Every pair of coordinates of ``(n, d)`` points (seaborn's ``PairGrid``): scatter plots below
    the diagonal, each coordinate's histogram on it; for latents and data with d > 2.

    ``names`` are the coordinates' TeX names (default ``x_1 ... x_d``); with
    ``normal_reference=True`` the standard normal density is drawn over each histogram. The
    figure is as wide as the text column unless ``size`` (inches per panel) is given.
    Returns the figure.

    Raises:
        ValueError: ``points`` is not two-dimensional with at least two columns, or ``names``
            does not name every column.
    """
    points = np.asarray(points, dtype=float)
    if points.ndim != 2 or points.shape[1] < 2:
        raise ValueError(f"pair_plot needs points of shape (n, d) with d >= 2, got {points.shape}")
    d = points.shape[1]
    names = tuple(names) if names is not None else tuple(f"x_{i + 1}" for i in range(d))
    if len(names) != d:
        raise ValueError(f"pair_plot got {len(names)} names for {d} coordinates")
    size = COLUMN_WIDTH / d if size is None else float(size)
    labels = [f"${name}$" for name in names]
    frame = pd.DataFrame(points, columns=labels)
    with mpl.rc_context({"figure.constrained_layout.use": False}):
        grid = sns.PairGrid(frame, vars=labels, corner=True, height=size, despine=True)
    grid.map_lower(sns.scatterplot, s=3, alpha=0.4, color=color, linewidth=0, rasterized=True)
    grid.map_diag(sns.histplot, bins=bins, stat="density", color=color, alpha=0.7, linewidth=0)
    if lim is not None:
        for ax in grid.axes.flat:
            if ax is not None:
                ax.set_xlim(-lim, lim)
        for row in grid.axes[1:]:
            row[0].set_ylim(-lim, lim)
    if normal_reference:
        for ax in grid.diag_axes:
            axis = np.linspace(*ax.get_xlim(), 300)
            ax.plot(axis, np.exp(-0.5 * axis**2) / np.sqrt(2.0 * np.pi), color=REFERENCE, lw=1.2)
    return grid.figure


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

