"""The report's verification section: per strategy, the live equity and its backtest's on
one chart, and the verification's text."""

from __future__ import annotations

import html
from typing import Any

import pandas as pd

from .data import LedgerFrames
from .stats import strategy_curves

__all__ = ["verification_section"]

_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")


def verification_section(verification: Any, frames: LedgerFrames) -> tuple[Any, str]:
    """A bokeh figure (a live and a backtest line per strategy) and the section's HTML."""
    from bokeh.models import NumeralTickFormatter
    from bokeh.plotting import figure

    from ..verify.text import render_text

    live = strategy_curves(frames.equity)
    fig = figure(
        name="verification",
        title="Live equity and its backtest's on the same bars",
        x_axis_type="datetime",
        height=300,
        sizing_mode="stretch_width",
        tools="xpan,xwheel_zoom,box_zoom,reset,save",
    )
    for k, (sid, backtest) in enumerate(verification.backtest_equity.items()):
        color = _COLORS[k % len(_COLORS)]
        ours = live.get(sid)
        if ours is not None:
            fig.line(
                pd.DatetimeIndex(ours.index).tz_convert(None).to_numpy(),
                ours.to_numpy(),
                line_width=2,
                color=color,
                legend_label=f"{sid} live",
                name=f"live:{sid}",
            )
        fig.line(
            pd.DatetimeIndex(backtest.index).tz_convert(None).to_numpy(),
            backtest.to_numpy(),
            line_width=2,
            line_dash="dashed",
            color=color,
            legend_label=f"{sid} backtest",
            name=f"backtest:{sid}",
        )
    fig.yaxis.formatter = NumeralTickFormatter(format="$0,0")
    fig.legend.location = "top_left"
    text = "\n".join(html.escape(line) for line in render_text(verification))
    return fig, f'<pre id="verification">{text}</pre>'
