"""Order specs on the wire: Schwab's shapes, prices as strings on the tick, whole shares, and a
signature that is the same for the spec sent and the order Schwab lists."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from stratequeue.errors import BrokerError
from stratequeue.models import BrokerOrder, OrderType, Side
from stratequeue_schwab.orders import price_text, signature_of_order, signature_of_spec, spec_of
from stratequeue_schwab.testing.exchange import Exchange

BRACKET = BrokerOrder(
    "b1", "AAPL", Side.BUY, 5, take_profit=210.004, stop_loss=180.0, order_class="bracket"
)


@pytest.mark.parametrize(
    ("value", "text"),
    [(190.0, "190.00"), (190.125, "190.12"), (190.135, "190.14"), (0.51237, "0.5124")],
)
def test_prices_are_strings_on_the_tick(value: float, text: str) -> None:
    assert price_text(value) == text


def test_a_bracket_is_a_first_triggers_oco_with_string_prices() -> None:
    spec = spec_of(BRACKET)
    assert spec["orderStrategyType"] == "TRIGGER" and spec["orderType"] == "MARKET"
    (oco,) = spec["childOrderStrategies"]
    assert oco["orderStrategyType"] == "OCO"
    tp, sl = oco["childOrderStrategies"]
    assert (tp["orderType"], tp["price"]) == ("LIMIT", "210.00")
    assert (sl["orderType"], sl["stopPrice"]) == ("STOP", "180.00")
    for leg in (tp, sl):
        assert leg["orderLegCollection"][0]["instruction"] == "SELL"
        assert leg["orderLegCollection"][0]["quantity"] == 5
        assert leg["duration"] == "GOOD_TILL_CANCEL"


def test_a_stop_limit_carries_both_prices() -> None:
    order = BrokerOrder(
        "s1", "AAPL", Side.SELL, 2, OrderType.STOP_LIMIT, limit_price=94.0, stop_price=95.0
    )
    spec = spec_of(order)
    assert (spec["orderType"], spec["price"], spec["stopPrice"]) == ("STOP_LIMIT", "94.00", "95.00")
    assert spec["duration"] == "DAY"


def test_fractions_of_a_share_are_refused_by_name() -> None:
    with pytest.raises(BrokerError, match="whole shares only, not 2.5 AAPL"):
        spec_of(BrokerOrder("f1", "AAPL", Side.BUY, 2.5))


def test_the_signature_of_a_listed_order_is_the_signature_of_its_spec() -> None:
    exchange = Exchange()
    spec = spec_of(BRACKET)
    order_id = exchange.place(spec)
    now = datetime.now(UTC)
    (listed,) = exchange.listed(now - timedelta(minutes=1), now + timedelta(minutes=1))
    assert listed["orderId"] == order_id
    assert isinstance(listed["childOrderStrategies"][0]["childOrderStrategies"][0]["price"], float)
    assert signature_of_order(listed) == signature_of_spec(spec)
    other = spec_of(
        BrokerOrder(
            "b2", "AAPL", Side.BUY, 5, take_profit=211, stop_loss=180, order_class="bracket"
        )
    )
    assert signature_of_spec(other) != signature_of_spec(spec)
