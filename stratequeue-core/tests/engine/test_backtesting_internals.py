"""Guard the private backtesting.py internals the live runner drives.

If one of these fails, backtesting changed an internal the runner relies on: pin
backtesting to the tested 0.6.x or update stratequeue/engine (book.py, data.py, shadow.py).
"""

from __future__ import annotations

import inspect

import backtesting
import pytest
from backtesting import _util
from backtesting.backtesting import Backtest, Order, Strategy, Trade, _Broker, _OutOfMoneyError

TESTED = "0.6"


def changed(what: str) -> str:
    return (
        f"backtesting {backtesting.__version__} changed {what}; the live runner was tested "
        f"against {TESTED}.x: pin backtesting or update stratequeue/engine/"
    )


def test_version_is_the_tested_minor():
    assert backtesting.__version__.startswith(TESTED + "."), changed("its version")


def test_broker_constructor_and_attributes():
    params = list(inspect.signature(_Broker.__init__).parameters)
    expected = [
        "self",
        "data",
        "cash",
        "spread",
        "commission",
        "margin",
        "trade_on_close",
        "hedging",
        "exclusive_orders",
        "index",
    ]
    assert params == expected, changed("_Broker.__init__ arguments")
    for name in (
        "new_order",
        "next",
        "_process_orders",
        "_open_trade",
        "_close_trade",
        "_reduce_trade",
        "_commission_func",
        "_adjusted_price",
    ):
        assert callable(getattr(_Broker, name, None)), changed(f"_Broker.{name}")
    source = inspect.getsource(_Broker)
    for attr in (
        "self._equity",
        "self._cash",
        "self.orders",
        "self.trades",
        "self.closed_trades",
        "self._hedging",
        "self._data",
    ):
        assert attr in source, changed(f"_Broker attribute {attr}")
    assert "for order in list(self.orders)" in inspect.getsource(_Broker._process_orders), changed(
        "the loop variable 'order' of _Broker._process_orders (book.py reads it to attribute fills)"
    )
    assert issubclass(_OutOfMoneyError, Exception)


def test_data_internals():
    for name in ("_set_length", "_current_value", "_update"):
        assert callable(getattr(_util._Data, name, None)), changed(f"_Data.{name}")
    source = inspect.getsource(_util._Data)
    for attr in (
        "self.__len",
        "self.__pip",
        "self.__cache",
        "self.__arrays",
        "self.__df",
        "'__index'",
    ):
        assert attr in source, changed(f"_Data private attribute {attr}")


def test_indicator_helpers():
    assert callable(_util._strategy_indicators), changed("_strategy_indicators")
    assert callable(_util._indicator_warmup_nbars), changed("_indicator_warmup_nbars")
    assert "argmin" in inspect.getsource(_util._indicator_warmup_nbars), changed("the warm-up rule")
    params = list(inspect.signature(Strategy.I).parameters)
    assert params[:3] == ["self", "func", "args"] and {
        "name",
        "plot",
        "overlay",
        "color",
        "scatter",
    } <= set(params), changed("Strategy.I")
    assert inspect.signature(_util._Array.__new__).parameters.get("name"), changed(
        "_Array(name=...)"
    )


@pytest.mark.parametrize(
    ("cls", "attrs"),
    [
        (Order, ("_replace", "parent_trade", "is_contingent", "cancel")),
        (
            Trade,
            (
                "_replace",
                "_copy",
                "_sl_order",
                "_tp_order",
                "_commissions",
                "close",
                "pl",
                "pl_pct",
            ),
        ),
    ],
)
def test_order_and_trade_private_api(cls, attrs):
    source = inspect.getsource(cls)
    for attr in attrs:
        assert hasattr(cls, attr) or attr in source, changed(f"{cls.__name__}.{attr}")


def test_backtest_run_exposes_the_strategy_instance():
    assert "strategy_instance=strategy" in inspect.getsource(Backtest.run), changed(
        "Backtest.run's result '_strategy' (the warm start adopts it)"
    )
    assert "_tqdm" in vars(backtesting.backtesting), changed("backtesting.backtesting._tqdm")
