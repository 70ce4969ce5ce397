"""Rendering the report: one self-contained HTML file (bokeh's JavaScript inlined, no CDN).

Each curve (the account first, then each strategy) gets an equity figure named
``equity:<name>`` with a drawdown figure ``drawdown:<name>`` under it, sharing its time axis.
Operator controls applied (``stratequeue pause`` ...) are marked on the curves they concern
(the account's shows all), as a glyph named ``controls:<name>``, and listed in a table.
With scipy installed, a returns-distribution section follows (:mod:`.distribution`).
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from .analytics import ReturnsStats
from .distribution import distribution_figures, distribution_section
from .stats import ACCOUNT, CurveStats, drawdown

__all__ = ["render_report"]

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5rem; color: #222; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f3f3f3; }
"""


def _pct(value: float) -> str:
    return "–" if not math.isfinite(value) else f"{value:+.2%}"


def _float(value: Any) -> float:
    return math.nan if value is None else float(value)


def _num(value: Any, fmt: str = ",.2f") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return format(value, fmt)


def _when(value: Any) -> str:
    return "–" if value is None or pd.isna(value) else pd.Timestamp(value).isoformat()


def _table(header: Sequence[str], rows: Iterable[Sequence[str]], css_id: str) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in rows
    )
    return f'<table id="{css_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _stats_table(stats: Sequence[CurveStats]) -> str:
    header = [
        "Curve",
        "Start equity",
        "End equity",
        "Return",
        "Sharpe",
        "Max drawdown",
        "Win rate",
        "Closed trades",
        "Exposure",
    ]
    rows = [
        [
            s.name,
            _num(s.start_equity),
            _num(s.end_equity),
            _pct(s.total_return),
            _num(s.sharpe, ".2f"),
            _pct(s.max_drawdown),
            "–" if not math.isfinite(s.win_rate) else f"{s.win_rate:.0%}",
            str(s.trades),
            "–" if not math.isfinite(s.exposure) else f"{s.exposure:.0%}",
        ]
        for s in stats
    ]
    return _table(header, rows, "statistics")


def _trades_table(trades: pd.DataFrame) -> str:
    header = [
        "Strategy",
        "Symbol",
        "Status",
        "Size",
        "Entry time",
        "Entry price",
        "Exit time",
        "Exit price",
        "P&L",
        "Return",
    ]
    rows = [
        [
            str(t["strategy_id"]),
            str(t["symbol"]),
            str(t["status"]),
            _num(t["size"], "g"),
            _when(t["entry_time"]),
            _num(t["entry_price"]),
            _when(t["exit_time"]),
            _num(t["exit_price"]),
            _num(t["pnl"], "+,.2f"),
            _pct(_float(t["return_pct"])),
        ]
        for t in trades.to_dict("records")
    ]
    return _table(header, rows, "trades")


def _controls_table(controls: Sequence[dict[str, Any]]) -> str:
    header = ["#", "After the bar of", "Control", "Strategy", "By", "Result"]
    rows = [
        [
            str(c["id"]),
            str(c["bar_time"]),
            c["kind"] + (f" {c['symbol']}" if c["symbol"] else ""),
            str(c["strategy_id"] or "all"),
            str(c["requested_by"]),
            str(c["result"]),
        ]
        for c in controls
    ]
    return _table(header, rows, "controls")


def _marks(curve: pd.Series, controls: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Where the controls sit on ``curve``: at their bar, at the equity it had then."""
    ts: list[Any] = []
    equity: list[float] = []
    text: list[str] = []
    for control in controls:
        when = pd.Timestamp(control["bar_time"])
        before = curve[curve.index <= when]
        if before.empty:
            continue
        ts.append(when.tz_convert(None))
        equity.append(float(before.iloc[-1]))
        text.append(f"#{control['id']} {control['kind']}: {control['result']}")
    return {"ts": ts, "equity": equity, "control": text}


def _figures(curves: dict[str, pd.Series], controls: Sequence[dict[str, Any]] = ()) -> Any:
    from bokeh.layouts import column
    from bokeh.models import ColumnDataSource, DataRange1d, HoverTool, NumeralTickFormatter
    from bokeh.plotting import figure

    children: list[Any] = []
    shared_x = DataRange1d()
    for name, curve in curves.items():
        source = ColumnDataSource(
            {
                "ts": pd.DatetimeIndex(curve.index).tz_convert(None),
                "equity": curve.to_numpy(),
                "dd": drawdown(curve).to_numpy(),
            }
        )
        equity = figure(
            name=f"equity:{name}",
            title=f"{name}: equity",
            x_axis_type="datetime",
            height=240,
            sizing_mode="stretch_width",
            tools="xpan,xwheel_zoom,box_zoom,reset,save",
            x_range=shared_x,
        )
        equity.line("ts", "equity", source=source, line_width=2, color="#1f77b4")
        equity.yaxis.formatter = NumeralTickFormatter(format="$0,0")
        mine = [c for c in controls if name == ACCOUNT or c["strategy_id"] in (None, name)]
        if mine:
            marks = equity.scatter(
                "ts",
                "equity",
                source=ColumnDataSource(_marks(curve, mine)),
                name=f"controls:{name}",
                marker="inverted_triangle",
                size=12,
                color="#ff7f0e",
            )
            equity.add_tools(HoverTool(renderers=[marks], tooltips=[("control", "@control")]))
        equity.add_tools(
            HoverTool(
                tooltips=[("time", "@ts{%F %T}"), ("equity", "@equity{$0,0.00}")],
                formatters={"@ts": "datetime"},
                mode="vline",
            )
        )
        under = figure(
            name=f"drawdown:{name}",
            title=f"{name}: drawdown",
            x_axis_type="datetime",
            x_range=shared_x,
            height=120,
            sizing_mode="stretch_width",
            tools="xpan,reset",
        )
        under.varea("ts", y1=0, y2="dd", source=source, color="#d62728", alpha=0.4)
        under.yaxis.formatter = NumeralTickFormatter(format="0.0%")
        children += [equity, under]
    return column(children, sizing_mode="stretch_width")


def render_report(
    *,
    title: str,
    curves: dict[str, pd.Series],
    stats: Sequence[CurveStats],
    trades: pd.DataFrame,
    subtitle: str = "",
    controls: Sequence[dict[str, Any]] = (),
    returns: Sequence[ReturnsStats] | None = None,
    verification: tuple[Any, str] | None = None,
) -> str:
    """The whole report as one HTML string; ``curves`` maps a name to its equity over time.

    ``returns`` holds each curve's returns statistics (needs scipy); None prints the line
    naming the ``analytics`` extra in that section instead. ``verification``: the figure and
    the HTML of ``stratequeue verify``'s section.
    """
    from bokeh.embed import components
    from bokeh.resources import Resources

    layouts = [_figures(curves, controls)]
    spread = distribution_figures(returns) if returns is not None else None
    if spread is not None:
        layouts.append(spread)
    if verification is not None:
        layouts.append(verification[0])
    script, divs = components(tuple(layouts))
    div, spread_div = divs[0], (divs[1] if spread is not None else "")
    section = ""
    if verification is not None:
        section = f"<h2>Verification</h2>\n{verification[1]}\n{divs[-1]}"
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{html.escape(title)}</title>
<style>{_STYLE}</style>
{Resources(mode="inline", components=["bokeh"]).render()}
</head>
<body>
<h1>{html.escape(title)}</h1>
<p>{html.escape(subtitle)} Generated {generated}.</p>
<h2>Statistics</h2>
{_stats_table(stats)}
<h2>Equity and drawdown</h2>
{div}
<h2>Returns distribution</h2>
{distribution_section(returns, _table, spread_div)}
<h2>Operator controls</h2>
{_controls_table(controls) if controls else "<p>None.</p>"}
<h2>Trades</h2>
{_trades_table(trades)}
{section}
{script}
</body>
</html>
"""
