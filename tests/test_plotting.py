"""The book's plotting module (seaborn + matplotlib) and the chapters' table helper."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import gaussianization as gz  # noqa: E402
from gaussianization import plotting  # noqa: E402


@pytest.fixture(autouse=True)
def _style():
    with matplotlib.rc_context():
        plotting.setup()
        yield
    plt.close("all")


def _extent(ax, fig):
    fig.canvas.draw()
    box = ax.get_window_extent()
    return box.x0, box.x1, box.y0, box.y1


def test_setup_applies_the_seaborn_theme_and_one_font():
    rc = matplotlib.rcParams
    assert rc["mathtext.fontset"] == "dejavusans"
    assert rc["font.sans-serif"][0] == "DejaVu Sans"
    assert rc["figure.dpi"] == plotting.DPI
    colours = [matplotlib.colors.to_hex(c["color"]) for c in rc["axes.prop_cycle"]]
    assert colours[: len(plotting.PALETTE)] == [c.lower() for c in plotting.PALETTE]
    assert rc["axes.grid"] and not rc["axes.spines.top"]


def test_joint_scatter_marginals_line_up_with_the_joint_panel():
    points = np.random.default_rng(0).normal(size=(500, 2))
    fig = plotting.joint_scatter(points, lim=4, names=("z_1", "z_2"), normal_reference=True,
                                 title="t")
    joint, top, right = fig.axes[:3]
    jx0, jx1, jy0, jy1 = _extent(joint, fig)
    tx0, tx1, _, _ = _extent(top, fig)
    _, _, ry0, ry1 = _extent(right, fig)
    # One pixel of slack: the panels share their edges exactly, up to rounding.
    assert abs(tx0 - jx0) < 1 and abs(tx1 - jx1) < 1
    assert abs(ry0 - jy0) < 1 and abs(ry1 - jy1) < 1
    assert joint.get_xlim() == (-4.0, 4.0) and joint.get_ylim() == (-4.0, 4.0)
    # equal scales: the square panel shows the same range on both axes
    assert abs((jx1 - jx0) - (jy1 - jy0)) < 1
    assert joint.get_xlabel() == "$z_1$" and joint.get_ylabel() == "$z_2$"
    assert fig.get_size_inches()[0] <= plotting.COLUMN_WIDTH


def test_joint_scatter_without_lim_spans_the_data_on_both_axes():
    points = np.column_stack([np.linspace(0, 1, 50), np.linspace(-3, 2, 50)])
    fig = plotting.joint_scatter(points)
    joint = fig.axes[0]
    assert joint.get_xlim() == joint.get_ylim() == (-3.0, 2.0)


@pytest.mark.parametrize("title", [None, "a title"])
def test_joint_scatter_panel_is_square_with_or_without_title(title):
    fig = plotting.joint_scatter(np.random.default_rng(2).normal(size=(100, 2)), lim=3,
                                 title=title)
    x0, x1, y0, y1 = _extent(fig.axes[0], fig)
    assert abs((x1 - x0) - (y1 - y0)) < 1


@pytest.mark.parametrize("shape", [(10,), (10, 3), (2, 2, 2)])
def test_joint_scatter_rejects_points_that_are_not_pairs(shape):
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        plotting.joint_scatter(np.zeros(shape))


def test_pair_plot_shows_every_pair_once():
    points = np.random.default_rng(1).normal(size=(300, 4))
    fig = plotting.pair_plot(points, names=["a", "b", "c", "d"], lim=4, normal_reference=True)
    panels = {tuple(np.round(ax.get_position().bounds, 6)) for ax in fig.axes}
    assert len(panels) == 4 * 5 // 2  # lower triangle and diagonal (corner=True)
    labels = {ax.get_xlabel() for ax in fig.axes} - {""}
    assert labels == {"$a$", "$b$", "$c$", "$d$"}
    assert fig.get_size_inches()[0] == pytest.approx(plotting.COLUMN_WIDTH)


def test_pair_plot_rejects_bad_input():
    with pytest.raises(ValueError, match="d >= 2"):
        plotting.pair_plot(np.zeros((10, 1)))
    with pytest.raises(ValueError, match="2 names for 3 coordinates"):
        plotting.pair_plot(np.zeros((10, 3)), names=["a", "b"])


def test_table_is_a_pipe_table_in_markdown_and_aligned_text():
    result = gz.table(["model", "KL gap"], [["coupling | IG", "0.050"], ["diagonal", 0.1]])
    text = result._repr_markdown_()
    assert text.splitlines() == [
        "| model | KL gap |",
        "|:--|--:|",
        "| coupling \\| IG | 0.050 |",
        "| diagonal | 0.1 |",
    ]
    assert repr(result).splitlines() == [
        "model          KL gap",
        "-------------  ------",
        "coupling | IG   0.050",
        "diagonal          0.1",
    ]
    assert gz.table(["a", "b", "c"], [], align="crl")._repr_markdown_().splitlines()[1] == \
        "|:-:|--:|:--|"


def test_table_rejects_ragged_rows_and_bad_alignment():
    with pytest.raises(ValueError, match="row 1 has 1 cells, the header 2"):
        gz.table(["a", "b"], [["1", "2"], ["3"]])
    with pytest.raises(ValueError, match="align needs one of l, r, c per column"):
        gz.table(["a", "b"], [], align="lx")
    with pytest.raises(ValueError, match="align needs"):
        gz.table(["a", "b"], [], align="l")


def test_no_chapter_sets_a_plot_style_of_its_own():
    """The style lives in gaussianization.plotting alone: no rcParams, style sheets or themes."""
    from pathlib import Path

    own_style = ("rcParams", "plt.style", "rc_context", "set_theme", "sns.set", "matplotlib.rc(")
    chapters = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.md"))
    assert chapters
    offenders = [(path.name, word) for path in chapters for word in own_style
                 if word in path.read_text(encoding="utf-8")]
    assert not offenders, offenders
