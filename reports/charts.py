"""The report's charts as PNG data URIs, so the HTML and the PDF carry them inside the file and
open offline. matplotlib's object API (no pyplot) draws with Agg and keeps no global state, so
the scheduler's thread and a CLI run can draw at the same time."""

from __future__ import annotations

import base64
import io

import pandas as pd
from matplotlib.figure import Figure

INK = "#1f2937"
MUTED = "#6b7280"
GRID = "#e5e7eb"
VOLUME = "#c7d2fe"
INDEX = "#1e3a8a"
SENTIMENT = {"negative": "#c2410c", "neutral": "#cbd5e1", "positive": "#15803d"}
DPI = 150


def _figure(width_in: float, height_in: float) -> Figure:
    fig = Figure(figsize=(width_in, height_in), dpi=DPI)
    fig.patch.set_facecolor("white")
    return fig


def _style(ax) -> None:
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_color(GRID)
    ax.tick_params(colors=MUTED, labelsize=8, length=0)
    ax.grid(axis="y", color=GRID, linewidth=0.8)
    ax.set_axisbelow(True)


def _uri(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight", pad_inches=0.05)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def index_and_volume(daily: pd.DataFrame) -> str:
    """Mentions per day as bars, the day's reputation index as a line on its own axis."""
    fig = _figure(7.2, 2.1)
    ax = fig.add_subplot()
    _style(ax)
    labels = [f"{d:%a} {d.day}" for d in daily["day"]]
    x = range(len(daily))
    ax.bar(x, daily["volume"], color=VOLUME, width=0.6, label="mentions")
    ax.set_ylabel("mentions", color=MUTED, fontsize=8)
    ax.set_xticks(list(x), labels)
    ax.margins(y=0.1)
    right = ax.twinx()
    _style(right)
    right.grid(False)
    right.spines["right"].set_visible(True)
    right.spines["right"].set_color(GRID)
    index = daily["reputation_index"] if "reputation_index" in daily else pd.Series([float("nan")] * len(daily))
    right.plot(list(x), index, color=INDEX, marker="o", markersize=4, linewidth=2, label="reputation index")
    lo, hi = index.min(), index.max()
    if pd.notna(lo):
        pad = max(5.0, (hi - lo) * 0.3)
        right.set_ylim(max(-100, min(lo, 0) - pad), min(100, max(hi, 0) + pad))
        right.axhline(0, color=MUTED, linewidth=0.8, linestyle=(0, (3, 3)))
    right.set_ylabel("reputation index", color=INDEX, fontsize=8)
    handles = ax.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
    ax.legend(handles, ["mentions", "reputation index"], loc="upper left", fontsize=7, frameon=False, ncol=2,
              bbox_to_anchor=(0, 1.18))
    return _uri(fig)


def sentiment_by_platform(by_platform: pd.DataFrame, names=str) -> str:
    """Each platform's mentions split into negative, neutral and positive, largest platform on top."""
    b = by_platform.sort_values("volume").reset_index(drop=True)
    b["platform"] = [names(p) for p in b["platform"]]
    fig = _figure(7.2, 0.35 + 0.24 * max(len(b), 1))
    ax = fig.add_subplot()
    _style(ax)
    ax.grid(axis="y", visible=False)
    ax.grid(axis="x", color=GRID, linewidth=0.8)
    neutral = b["volume"] - b["negative"] - b["positive"]
    left = pd.Series([0] * len(b))
    for name, values in (("negative", b["negative"]), ("neutral", neutral), ("positive", b["positive"])):
        ax.barh(b["platform"], values, left=left, color=SENTIMENT[name], height=0.6, label=name)
        left = left + values
    for i, total in enumerate(b["volume"]):
        ax.annotate(f"{int(total):,}", (total, i), va="center", fontsize=7, color=MUTED, xytext=(3, 0),
                    textcoords="offset points")
    ax.tick_params(axis="y", labelsize=8, colors=INK)
    ax.margins(x=0.08)
    ax.set_xlabel("mentions", color=MUTED, fontsize=8)
    ax.legend(loc="lower right", fontsize=7, frameon=False, ncol=3, bbox_to_anchor=(1, 1.0))
    return _uri(fig)
