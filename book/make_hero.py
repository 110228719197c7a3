"""Draw the landing page's figure, ``book/images/hero.png``.

Two moons, iteratively Gaussianized: each step rotates the data and then maps
every coordinate through its own empirical CDF followed by the standard-normal
quantile function, z = Φ⁻¹(F(x)). This is the rotation-based iterative
Gaussianization (RBIG) that the book builds on. Points keep the colour of their
position along the moons, so one can follow where the data go.

Run from the repository root:  ``.venv/bin/python book/make_hero.py``
(the output is committed; the build does not run this script).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import LinearSegmentedColormap  # noqa: E402
from matplotlib.patches import FancyArrowPatch  # noqa: E402
from scipy.special import ndtri  # noqa: E402
from scipy.stats import rankdata  # noqa: E402

from gaussianization import plotting  # noqa: E402

# Upper moon: light to dark blue along its arc; lower moon: amber to dark vermillion.
MOONS_CMAP = LinearSegmentedColormap.from_list(
    "moons", [(0.0, "#8ecae6"), (0.4999, "#023e8a"), (0.5001, "#ffb703"), (1.0, "#9d0208")])
IMAGES = Path(__file__).resolve().parent / "images"
OUT = IMAGES / "hero.png"
SHOW_AFTER = (1, 3, 40)  # iterations shown after the data panel


def two_moons(n: int, noise: float, rng: np.random.Generator):
    """The population of SPEC §7, returning points and their position s ∈ [0, 2π)."""
    moon = rng.integers(0, 2, n)
    t = rng.uniform(0.0, np.pi, n)
    x = np.where(moon == 0, np.cos(t), 1.0 - np.cos(t))
    y = np.where(moon == 0, np.sin(t), 0.5 - np.sin(t))
    pts = np.stack([x, y], axis=1) + noise * rng.standard_normal((n, 2))
    return pts, t + np.pi * moon


def marginal_gaussianize(x: np.ndarray) -> np.ndarray:
    """Per coordinate: z = Φ⁻¹(F̂(x)), F̂ the (mid-rank) empirical CDF."""
    n = x.shape[0]
    u = (rankdata(x, axis=0) - 0.5) / n
    return ndtri(u)


def rbig(x: np.ndarray, steps: int, rng: np.random.Generator):
    """Iterative Gaussianization with Haar-random rotations; yields every state."""
    z = (x - x.mean(0)) / x.std(0)
    states = [z]
    for _ in range(steps):
        q, r = np.linalg.qr(rng.standard_normal((2, 2)))
        q = q * np.sign(np.diag(r))
        z = marginal_gaussianize(z @ q)
        states.append(z)
    return states


def main() -> None:
    plotting.setup()
    rng = np.random.default_rng(7)
    x, s = two_moons(3000, 0.05, rng)
    states = rbig(x, max(SHOW_AFTER), rng)
    panels = [(states[0], "data")] + [
        (states[k], f"after {k} step{'s' if k > 1 else ''}") for k in SHOW_AFTER
    ]
    panels[-1] = (panels[-1][0], f"latent ({SHOW_AFTER[-1]} steps)")

    fig, axes = plt.subplots(1, len(panels), figsize=(7.0, 2.05), layout="none",
                             gridspec_kw={"wspace": 0.36})
    fig.subplots_adjust(left=0.02, right=0.98, top=0.84, bottom=0.04)
    circle = np.linspace(0, 2 * np.pi, 200)
    for i, (ax, (pts, title)) in enumerate(zip(axes, panels)):
        if i > 0:
            for radius in (1.0, 2.0, 3.0):
                ax.plot(radius * np.cos(circle), radius * np.sin(circle), color="0.55",
                        lw=0.8, ls=(0, (3, 3)), zorder=0)
        ax.scatter(pts[:, 0], pts[:, 1], c=s, cmap=MOONS_CMAP, vmin=0, vmax=2 * np.pi, s=1.6,
                   alpha=0.85, linewidths=0, rasterized=True)
        lim = 2.3 if i == 0 else 3.7
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
        for side in ax.spines.values():
            side.set_visible(False)
        ax.set_title(title, fontsize=10, fontweight="bold")
    for left, right in zip(axes[:-1], axes[1:]):
        a = left.get_position()
        b = right.get_position()
        y = 0.5 * (a.y0 + a.y1)
        fig.add_artist(FancyArrowPatch((a.x1 + 0.004, y), (b.x0 - 0.004, y),
                                       transform=fig.transFigure, arrowstyle="-|>",
                                       mutation_scale=11, lw=1.1, color="0.25"))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(OUT, dpi=2 * plotting.DPI, facecolor="white", bbox_inches="tight", pad_inches=0.08)
    plt.close(fig)
    print(f"wrote {OUT}")
    draw_logo(x, s)


def draw_logo(x: np.ndarray, s: np.ndarray) -> None:
    """The sidebar logo and the favicon: the two moons inside a unit-normal circle."""
    z = (x - x.mean(0)) / x.std(0)
    for name, size, npts, dot in (("logo.png", 3.0, 1500, 9.0), ("favicon.png", 0.64, 600, 5.0)):
        fig, ax = plt.subplots(figsize=(size, size), layout="none")
        fig.subplots_adjust(0, 0, 1, 1)
        circle = np.linspace(0, 2 * np.pi, 200)
        ax.fill(2.35 * np.cos(circle), 2.35 * np.sin(circle), color="#f1f5f9", zorder=0)
        ax.plot(2.35 * np.cos(circle), 2.35 * np.sin(circle), color="#334155",
                lw=2.0 * size / 3.0 + 0.6, zorder=1)
        ax.scatter(z[:npts, 0], z[:npts, 1], c=s[:npts], cmap=MOONS_CMAP, vmin=0, vmax=2 * np.pi,
                   s=dot * (size / 3.0) ** 2 + 0.5, alpha=0.9, linewidths=0, zorder=2)
        ax.set_xlim(-2.55, 2.55)
        ax.set_ylim(-2.55, 2.55)
        ax.set_aspect("equal")
        ax.axis("off")
        fig.savefig(IMAGES / name, dpi=100, transparent=True)
        plt.close(fig)
        print(f"wrote {IMAGES / name}")


if __name__ == "__main__":
    main()
