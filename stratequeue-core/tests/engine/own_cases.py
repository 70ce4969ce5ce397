"""Strategies nobody here wrote, as cases for the parity suite.

backtesting.py ships its own test suite (``backtesting.test._test``). Most of its Strategy
classes are defined inside test methods, so they cannot be imported by name: :func:`harvest`
runs chosen test methods with ``Backtest.run`` wrapped to record what each run was given (the
strategy class, data, broker options and parameters), plotting and sleeping switched off.
The classes are backtesting.py's own objects, never copies.

:func:`replay` runs one case through StrateQueue's replay path (a CSV file, the csv data
source, the App with ``replay=True``, the paper broker, the ledger) and :func:`reference`
through ``Backtest.run``; :func:`compare` says whether the closed trades are identical.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import types
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from backtesting import Backtest, Strategy
from test_replay_parity import COLUMNS  # the trade columns every parity test compares

BROKER_KEYS = (
    "cash",
    "commission",
    "spread",
    "margin",
    "trade_on_close",
    "hedging",
    "exclusive_orders",
)
#: the strategy files written for replay import their class from here
REGISTRY = "sq_own_strategy_cases"


@dataclass
class Case:
    """One Backtest.run call: what the replay must reproduce."""

    name: str
    cls: type[Strategy]
    data: pd.DataFrame
    options: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    #: module-level code for the strategy file (a ``prepare_data`` hook, ``TIMEZONE``, ...)
    preamble: str = ""
    #: data the replay reads when it differs from the backtest's (``prepare_data`` cases)
    csv_data: pd.DataFrame | None = None
    warmup: int = 0

    def __repr__(self) -> str:
        return self.name


@contextmanager
def _recording(found: list[tuple[Any, dict[str, Any]]]) -> Iterator[None]:
    original_run, original_plot = Backtest.run, Backtest.plot

    def run(self: Backtest, **kwargs: Any) -> Any:
        found.append((self, dict(kwargs)))
        return original_run(self, **kwargs)

    Backtest.run = run  # type: ignore[method-assign]
    Backtest.plot = lambda self, *a, **k: None  # type: ignore[method-assign]
    try:
        yield
    finally:
        Backtest.run = original_run  # type: ignore[method-assign]
        Backtest.plot = original_plot  # type: ignore[method-assign]


def harvest(test: str) -> list[Case]:
    """The Backtest.run calls test ``Class.method`` of backtesting's suite makes, as cases."""
    from backtesting.test import _test

    owner, method = test.split(".")
    found: list[tuple[Any, dict[str, Any]]] = []
    clock = types.SimpleNamespace(
        sleep=lambda s: None,
        process_time=_test.time.process_time,
        monotonic=_test.time.monotonic,
    )
    real_time = _test.time
    _test.time = clock
    try:
        # a failing check on the plot we switched off: the runs are recorded already
        with _recording(found), warnings.catch_warnings(), contextlib.suppress(AssertionError):
            getattr(getattr(_test, owner)(method), method)()
    finally:
        _test.time = real_time
    cases = []
    for k, (bt, params) in enumerate(found):
        keywords = bt._broker.keywords
        cases.append(
            Case(
                name=f"{test}#{k + 1}:{bt._strategy.__name__}",
                cls=bt._strategy,
                data=bt._data,
                options={key: keywords[key] for key in BROKER_KEYS},
                params=params,
            )
        )
    return cases


def reference(case: Case) -> pd.DataFrame:
    """The closed trades of ``Backtest(data, cls, finalize_trades=False, options).run()``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stats = Backtest(case.data, case.cls, finalize_trades=False, **case.options).run(
            **case.params
        )
    return stats._trades[COLUMNS].reset_index(drop=True)


def _registry() -> dict[str, type[Strategy]]:
    module = sys.modules.get(REGISTRY)
    if module is None:
        module = sys.modules[REGISTRY] = types.ModuleType(REGISTRY)
        module.CASES = {}  # type: ignore[attr-defined]
    return module.CASES  # type: ignore[attr-defined,no-any-return]


def strategy_file(case: Case, folder: Path) -> Path:
    """A strategy file naming the case's class (with its parameters as a subclass's)."""
    cls = case.cls
    if case.params:
        cls = type(cls.__name__, (cls,), dict(case.params))
        cls.__module__ = case.cls.__module__
        cls.__qualname__ = case.cls.__qualname__
    key = f"{case.name}@{id(cls)}"
    _registry()[key] = cls
    path = folder / "strategy.py"
    path.write_text(
        f"from {REGISTRY} import CASES\n{case.preamble}\nSTRATEGY = CASES[{key!r}]\n",
        encoding="utf-8",
    )
    return path


def replay(case: Case, folder: Path) -> pd.DataFrame:
    """The closed trades of the case replayed through the App (csv -> ... -> ledger)."""
    from stratequeue.app import App, RunConfig
    from stratequeue.cli.commands import trades_table
    from stratequeue.portfolio.config import StrategySpec

    folder.mkdir(parents=True, exist_ok=True)
    csv = folder / "data.csv"
    (case.csv_data if case.csv_data is not None else case.data).to_csv(csv)
    options = dict(case.options)
    config = RunConfig(
        strategies=[StrategySpec(strategy_file(case, folder), "s", 1.0)],
        symbols=["X"],
        data_source="csv",
        granularity="1d",
        mode="paper",
        broker="paper",
        lookback=case.warmup,
        db=folder / "ledger.sqlite",
        cash=options.pop("cash"),
        backtest_options=options,
        data_options={"path": str(csv)},
        replay=True,
        stale_after=0,
    )
    with App(config, show_events=False) as app:
        app.execute()
        trades = trades_table(app.ledger, with_strategy=False)
    return trades[trades["ExitBar"].notna()].reset_index(drop=True)[COLUMNS]


def _utc(times: pd.Series) -> pd.Series:
    times = pd.to_datetime(times)
    return times.dt.tz_localize("UTC") if times.dt.tz is None else times.dt.tz_convert("UTC")


def compare(got: pd.DataFrame, ref: pd.DataFrame) -> str | None:
    """None when the trades are identical, else what differs first."""
    if len(got) != len(ref):
        return f"{len(got)} trades replayed, {len(ref)} in the backtest"
    for column in COLUMNS:
        a, b = got[column], ref[column]
        if column in ("EntryTime", "ExitTime"):
            same = np.array_equal(_utc(a).to_numpy(), _utc(b).to_numpy())
        elif column == "Tag":
            same = [None if pd.isna(x) else str(x) for x in a] == [
                None if pd.isna(x) else str(x) for x in b
            ]
        else:
            x, y = a.to_numpy(dtype=float), b.to_numpy(dtype=float)
            same = np.array_equal(x, y, equal_nan=True)
        if not same:
            bad = next(
                (i for i in range(len(a)) if str(a.iloc[i]) != str(b.iloc[i])),
                0,
            )
            return f"{column} differs at trade {bad}: {a.iloc[bad]!r} != {b.iloc[bad]!r}"
    return None


class _Warnings(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "looks ahead" in message or "init() sets" in message:
            self.messages.append(message)


def outcome(case: Case, folder: Path) -> str:
    """'identical', or why not (what differs, or the error the replay ended with), followed
    by the look-ahead and init() state warnings the replay gave."""
    caught = _Warnings()
    logger = logging.getLogger("stratequeue")
    logger.addHandler(caught)
    try:
        result = _outcome(case, folder)
    finally:
        logger.removeHandler(caught)
    return "; ".join([result, *(f"warned: {m}" for m in caught.messages)])


def _outcome(case: Case, folder: Path) -> str:
    try:
        ref = reference(case)
    except Exception as exc:  # the backtest itself fails: the replay must fail the same way
        ref_error: Exception | None = exc
    else:
        ref_error = None
    try:
        got = replay(case, folder)
    except BaseException as exc:  # SystemExit from a usage error, or anything else
        if ref_error is not None:
            return f"both raise: {type(exc).__name__}: {exc}"
        return f"replay raised {type(exc).__name__}: {exc}"
    if ref_error is not None:
        return f"backtest raised {type(ref_error).__name__}, replay did not"
    # trades that closed during a warm-up (history) were never live
    ref = ref[ref["ExitBar"] >= case.warmup].reset_index(drop=True)
    return compare(got, ref) or "identical"


Runner = Callable[[Case, Path], str]
