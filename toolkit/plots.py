"""The one plotting module: every figure of the studies and of a run is drawn with these.

Importing it selects matplotlib's non-interactive Agg backend, once for the whole tree (figures
are only ever written to PNG, and a study must run on a machine without a display; a notebook
that imported pyplot first keeps its own backend, and the studies close their figures); modules
that draw import ``plt`` from here, never ``matplotlib.pyplot`` directly, so no other module
has to set the backend. The numbers come in as plain arrays and rows: a study computes its
tables first and hands them to a function here or to its own small drawing function, which
uses the palette and the helpers below (scatter by class, interval bars, confusion grids,
image grids, label placing), in the spirit of scikit-learn's Display classes.

Example:
    >>> from toolkit import plots
    >>> fig, ax = plots.plt.subplots()
    >>> plots.interval_bars(ax, ["lr", "cnn"], [0.9, 0.98], [0.88, 0.97], [0.92, 0.99])
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import matplotlib
import numpy as np

if "matplotlib.pyplot" not in sys.modules:  # a notebook that plots already keeps its backend
    matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)

__all__ = [
    "class_colours",
    "class_legend",
    "confusion_grid",
    "framework_colours",
    "framework_legend",
    "image_grid",
    "interval_bars",
    "place_labels",
    "plain_log_axis",
    "plt",
    "scatter_by_class",
    "short_count",
]

# --- the palette ---------------------------------------------------------------------------

#: Fixed colours of the frameworks (tab10 order); a framework not listed gets the next free one.
_FRAMEWORK_ORDER = ("sklearn", "torch", "xgboost", "lightgbm")


def class_colours(n_classes: int) -> list[tuple]:
    """One colour per class, the same in every figure: tab10, or tab20 beyond 10 classes."""
    cmap = plt.get_cmap("tab10" if n_classes <= 10 else "tab20")
    return [cmap(c % cmap.N) for c in range(n_classes)]


def framework_colours(frameworks: Sequence[str] = ("sklearn", "torch")) -> dict[str, tuple]:
    """A colour per framework, stable across figures (sklearn blue, torch orange, ...)."""
    tab10 = plt.get_cmap("tab10").colors
    known = list(_FRAMEWORK_ORDER)
    known += [f for f in dict.fromkeys(frameworks) if f not in known]
    return {f: tab10[known.index(f) % len(tab10)] for f in dict.fromkeys(frameworks)}


def framework_legend(ax, colours: dict, **kwargs) -> None:
    """A legend of coloured patches, one per framework."""
    from matplotlib.patches import Patch

    handles = [Patch(color=c, label=f) for f, c in colours.items()]
    ax.legend(handles=handles, title="framework", fontsize=8, **kwargs)


# --- scatter by class ----------------------------------------------------------------------


def scatter_by_class(ax, xy: np.ndarray, labels: np.ndarray, class_names, *, size: float = 6):
    """Scatter a 2-D map on ``ax``, one colour per class (see :func:`class_colours`)."""
    colours = class_colours(len(class_names))
    for c, name in enumerate(class_names):
        mine = labels == c
        ax.scatter(
            xy[mine, 0],
            xy[mine, 1],
            s=size,
            color=colours[c],
            label=str(name),
            alpha=0.75,
            linewidths=0,
        )
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("dimension 1")
    ax.set_ylabel("dimension 2")


def class_legend(fig, axes, class_names) -> None:
    """One legend for the whole figure, right of the panels, with large markers."""
    handles, names = list(axes)[0].get_legend_handles_labels()
    legend = fig.legend(
        handles,
        names,
        title="class",
        loc="center left",
        bbox_to_anchor=(1.0, 0.5),
        fontsize=9,
        markerscale=3,
        frameon=False,
    )
    for handle in legend.legend_handles:
        handle.set_alpha(1.0)


# --- interval bars ---------------------------------------------------------------------------


def interval_bars(
    ax,
    labels: Sequence[str],
    values: Sequence[float],
    low: Sequence[float],
    high: Sequence[float],
    *,
    colours=None,
    left: float | None = None,
    right: float = 100.0,
    scale: float = 100.0,
    fmt: str = "{:.2f}%",
    fontsize: int = 8,
) -> float:
    """Horizontal bars of ``values`` with their intervals [low, high], each value written
    inside its bar's left end (clear of the error bar), first label at the bottom.

    Values are shares in [0, 1] shown in per cent (``scale``); ``left`` is the axis' left
    end (default: 5 points below the lowest interval, at least 0). Returns ``left``.
    """
    shown = np.asarray(values, dtype=float) * scale
    lo = np.asarray(low, dtype=float) * scale
    hi = np.asarray(high, dtype=float) * scale
    if left is None:
        left = max(0.0, float(lo.min()) - 5) if len(lo) else 0.0
    rows = range(len(shown))
    ax.barh(rows, shown, xerr=[shown - lo, hi - shown], color=colours, capsize=2)
    ax.set_yticks(rows, list(labels), fontsize=fontsize)
    ax.set_xlim(left, right)
    for i, value in enumerate(shown):
        ax.text(left + 0.01 * (right - left), i, fmt.format(value), va="center", fontsize=8)
    return left


# --- confusion grids -------------------------------------------------------------------------


def confusion_grid(
    matrices: Sequence[tuple[str, np.ndarray]],
    class_names: Sequence[str],
    *,
    title: str = "Confusion matrices (rows normalised to the true class)",
):
    """Small row-normalised confusion heatmaps, one per (title, matrix), sharing a colour bar
    on a power scale, so that confusions of 1-2% still show."""
    from matplotlib.colors import PowerNorm

    cols = min(4, len(matrices))
    rows = -(-len(matrices) // cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(2.5 * cols + 0.8, 2.6 * rows + 0.4), squeeze=False
    )
    ticks = range(len(class_names))
    short = [str(c)[:6] for c in class_names]
    norm = PowerNorm(gamma=0.35, vmin=0, vmax=1)
    image = None
    for ax, (name, matrix) in zip(axes.flat, matrices, strict=False):
        cm = np.asarray(matrix, dtype=float)
        cm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
        image = ax.imshow(cm, cmap="Blues", norm=norm)
        ax.set_title(name, fontsize=9)
        ax.set_xticks(ticks, short, fontsize=8, rotation=90)
        ax.set_yticks(ticks, short, fontsize=8)
    for ax in axes.flat[len(matrices) :]:
        ax.axis("off")
    for ax in axes[:, 0]:
        ax.set_ylabel("true class", fontsize=8)
    for ax in axes[-1, :]:
        ax.set_xlabel("predicted class", fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.colorbar(
        image,
        ax=axes.ravel().tolist(),
        shrink=0.8,
        label="share of the true class (power scale)",
        ticks=[0, 0.01, 0.05, 0.2, 0.5, 1],
    )
    return fig


# --- image grids -----------------------------------------------------------------------------


def image_grid(
    images: Sequence[np.ndarray],
    titles: Sequence[str],
    *,
    cols: int = 8,
    diverging: bool = True,
    shared_scale: bool = True,
    title: str = "",
    colourbar_label: str = "",
    panel: float = 1.3,
):
    """Panels of 2-D maps (weights, filters, activations) or RGB images [H, W, 3] in [0, 1];
    a None in ``images`` leaves its panel empty.

    ``diverging`` maps 2-D panels with a red-blue colormap centred at 0 (positive red,
    negative blue); otherwise with viridis from the panel's minimum. ``shared_scale`` gives
    every 2-D panel one scale (and draws one colour bar), so panels compare; otherwise each
    panel is scaled on its own.
    """
    n = len(images)
    cols = max(1, min(cols, n))
    rows = max(1, -(-n // cols))
    fig, axes = plt.subplots(
        rows, cols, figsize=(panel * cols + 0.9, panel * rows + 0.5), squeeze=False
    )
    flat = [None if im is None else np.asarray(im, dtype=float) for im in images]
    maps = [im for im in flat if im is not None and im.ndim == 2]
    limit = max((float(np.abs(im).max()) for im in maps), default=1.0) or 1.0
    low = min((float(im.min()) for im in maps), default=0.0)
    high = max((float(im.max()) for im in maps), default=1.0)
    shown = None
    for ax, image, name in zip(axes.flat, flat, titles, strict=False):
        if image is None:  # a gap, e.g. to start the next group on a new row
            ax.axis("off")
            continue
        if image.ndim == 3:
            ax.imshow(np.clip(image, 0, 1))
        else:
            if diverging:
                own = float(np.abs(image).max()) or 1.0
                lim = limit if shared_scale else own
                kwargs = {"cmap": "RdBu_r", "vmin": -lim, "vmax": lim}
            else:
                lo, hi = (low, high) if shared_scale else (image.min(), image.max())
                kwargs = {"cmap": "viridis", "vmin": lo, "vmax": hi if hi > lo else lo + 1}
            shown = ax.imshow(image, interpolation="nearest", **kwargs)
        ax.set_title(name, fontsize=7)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes.flat[n:]:
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    # fixed spacing, not tight_layout: with dozens of panels it costs seconds per figure
    top = 1 - 0.45 / fig.get_figheight()
    fig.subplots_adjust(left=0.02, right=0.86 if shared_scale else 0.98, bottom=0.02, top=top)
    fig.subplots_adjust(wspace=0.15, hspace=0.35)
    if shown is not None and shared_scale:
        fig.colorbar(shown, cax=fig.add_axes((0.89, 0.15, 0.02, 0.7)), label=colourbar_label)
    return fig


# --- axes and labels ---------------------------------------------------------------------------


def plain_log_axis(axis) -> None:
    """A log axis labelled with plain numbers (0.01, 0.1, 1) and no minor labels."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def short_count(n: int | None) -> str:
    """'1.23M' / '45.6k' for parameter counts in labels; '?' where unknown."""
    if n is None:
        return "?"
    return f"{n / 1e6:.2f}M" if n >= 1e6 else f"{n / 1e3:.1f}k"


#: Where a point's label may go, in points from the point: right, left, above, below.
_LABEL_OFFSETS = [(5, 2), (5, -10), (-5, 2), (-5, -10), (5, 9), (5, -17), (-5, 9), (-5, -17)]


def place_labels(ax, points: list[tuple[float, float, str]], fontsize: int = 8) -> None:
    """Label each point where its text overlaps no earlier label and no point, if such a
    place exists among a few offsets (else the least crowded one): a small, greedy version
    of what label-placement libraries do, enough for a few dozen models."""
    if not points:
        return
    fig = ax.figure
    ax.autoscale_view()
    to_px = fig.dpi / 72
    xy = ax.transData.transform([(x, y) for x, y, _ in points])
    markers = [(px - 4, py - 4, px + 4, py + 4) for px, py in xy]
    placed: list[tuple[float, float, float, float]] = []
    order = np.argsort([-y for _, y, _ in points], kind="stable")
    for i in order:
        px, py = xy[i]
        name = points[i][2]
        width, height = 0.6 * fontsize * len(name) * to_px, fontsize * to_px

        def box(offset, px=px, py=py, width=width, height=height):
            left = px + offset[0] * to_px - (width if offset[0] < 0 else 0)
            bottom = py + offset[1] * to_px
            return left, bottom, left + width, bottom + height

        def crowding(b) -> float:
            return sum(_overlap(b, other) for other in placed + markers)

        best = min(_LABEL_OFFSETS, key=lambda o: (crowding(box(o)) > 0, crowding(box(o))))
        placed.append(box(best))
        ax.annotate(
            name,
            points[i][:2],
            xytext=best,
            textcoords="offset points",
            fontsize=fontsize,
            ha="right" if best[0] < 0 else "left",
            va="bottom",
        )


def _overlap(a: tuple, b: tuple) -> float:
    """Area shared by two (left, bottom, right, top) boxes."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    return max(0.0, width) * max(0.0, height)
