"""The report's returns-distribution section: a table of moments and the probabilistic Sharpe
ratio, and one histogram per curve (named ``returns:<name>``) with the normal density of the
same mean and standard deviation drawn over it. Needs scipy (the ``analytics`` extra)."""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .analytics import INSTALL_HINT, ReturnsStats

__all__ = ["distribution_figures", "distribution_section"]


def _fmt(value: float, fmt: str) -> str:
    return "–" if not math.isfinite(value) else format(value, fmt)


def distribution_table(
    returns: Sequence[ReturnsStats], table: Callable[[Sequence[str], Any, str], str]
) -> str:
    header = [
        "Curve",
        "Bars",
        "Mean return",
        "Std dev",
        "Skewness",
        "Kurtosis",
        "Sharpe per bar",
        "PSR (Sharpe > 0)",
    ]
    rows = [
        [
            r.name,
            str(len(r.returns)),
            _fmt(r.mean, "+.4%"),
            _fmt(r.std, ".4%"),
            _fmt(r.skew, "+.2f"),
            _fmt(r.kurtosis, ".2f"),
            _fmt(r.sharpe, "+.4f"),
            _fmt(r.psr, ".1%"),
        ]
        for r in returns
    ]
    return table(header, rows, "returns")


def distribution_figures(returns: Sequence[ReturnsStats]) -> Any:
    """One histogram per curve with at least two distinct returns, in a bokeh column."""
    from bokeh.layouts import column
    from bokeh.models import NumeralTickFormatter
    from bokeh.plotting import figure
    from scipy import stats as sps

    children: list[Any] = []
    for r in returns:
        if len(r.returns) < 2 or not r.std > 0:
            continue
        bins = int(min(60, max(5, math.sqrt(len(r.returns)))))
        density, edges = np.histogram(r.returns, bins=bins, density=True)
        fig = figure(
            name=f"returns:{r.name}",
            title=f"{r.name}: per-bar returns ({len(r.returns)} bars)",
            height=200,
            sizing_mode="stretch_width",
            tools="xpan,xwheel_zoom,reset,save",
        )
        fig.quad(
            top=density, bottom=0, left=edges[:-1], right=edges[1:], color="#1f77b4", alpha=0.6
        )
        xs = np.linspace(edges[0], edges[-1], 200)
        fig.line(xs, sps.norm.pdf(xs, r.mean, r.std), color="#d62728", line_width=2)
        fig.xaxis.formatter = NumeralTickFormatter(format="0.00%")
        children.append(fig)
    return column(children, sizing_mode="stretch_width") if children else None


def distribution_section(
    returns: Sequence[ReturnsStats] | None,
    table: Callable[[Sequence[str], Any, str], str],
    div: str,
) -> str:
    """The section's HTML: the hint naming the extra when ``returns`` is None (no scipy)."""
    if returns is None:
        return f"<p>{html.escape(INSTALL_HINT)}</p>"
    note = (
        "<p>PSR: the probability that the true per-bar Sharpe ratio is above 0, from the "
        "observed one, the number of bars, and the returns' skewness and kurtosis (Bailey and "
        "López de Prado). The red line is the normal density of the same mean and deviation.</p>"
    )
    return distribution_table(returns, table) + note + div
