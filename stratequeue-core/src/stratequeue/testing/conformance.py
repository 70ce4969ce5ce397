"""The broker conformance kit: what every broker plugin must do, as pytest cases.

A plugin runs it against its own fake by providing ONE fixture, ``broker_harness``, that yields
a :class:`~stratequeue.testing.harness.BrokerHarness` (a connected broker plus a handle on its
venue), in a test module that imports the cases::

    from stratequeue.testing.conformance import *  # noqa: F403

    @pytest.fixture
    def broker_harness():
        with MyFake() as fake:
            harness = MyHarness(fake)
            yield harness
            harness.broker.disconnect()

A case needing a capability the broker does not declare (``BaseBroker.capabilities``) is
skipped with the reason ``"<broker>: no Capability.<NAME>"``: run pytest with ``-rs`` to see
the list. Needs pytest (a test dependency, never the core's).
"""

from __future__ import annotations

from ._kit import require
from .conformance_account import (
    test_a_dropped_connection_still_delivers_each_fill_once,
    test_a_refused_order_is_rejected_with_the_brokers_message,
    test_a_short_sale_opens_a_negative_position,
    test_each_execution_is_delivered_once,
    test_executions_keep_their_ids_across_a_restart,
    test_fractional_quantities_fill_exactly,
    test_partial_fills_are_reported_once_each_with_cumulative_quantities,
    test_positions_and_equity_follow_the_fills,
    test_rate_limits_and_server_errors_are_retried_without_a_duplicate_order,
    test_restart_sees_open_orders_positions_and_executions,
)
from .conformance_orders import (
    test_an_order_is_found_by_client_id_from_a_fresh_connection,
    test_bracket_legs_are_reported_and_one_fill_cancels_the_other,
    test_cancel_stops_a_working_order,
    test_limit_order_waits_for_its_price,
    test_market_order_fills_at_the_market,
    test_oco_one_leg_fills_and_cancels_the_other,
    test_replace_changes_a_working_orders_price,
    test_stop_limit_order_triggers_then_fills_at_its_limit_or_better,
    test_stop_order_triggers_at_its_stop,
    test_submit_is_idempotent_on_the_client_order_id,
)

__all__ = [
    "require",
    "test_a_dropped_connection_still_delivers_each_fill_once",
    "test_a_refused_order_is_rejected_with_the_brokers_message",
    "test_a_short_sale_opens_a_negative_position",
    "test_an_order_is_found_by_client_id_from_a_fresh_connection",
    "test_bracket_legs_are_reported_and_one_fill_cancels_the_other",
    "test_cancel_stops_a_working_order",
    "test_each_execution_is_delivered_once",
    "test_executions_keep_their_ids_across_a_restart",
    "test_fractional_quantities_fill_exactly",
    "test_limit_order_waits_for_its_price",
    "test_market_order_fills_at_the_market",
    "test_oco_one_leg_fills_and_cancels_the_other",
    "test_partial_fills_are_reported_once_each_with_cumulative_quantities",
    "test_positions_and_equity_follow_the_fills",
    "test_rate_limits_and_server_errors_are_retried_without_a_duplicate_order",
    "test_replace_changes_a_working_orders_price",
    "test_restart_sees_open_orders_positions_and_executions",
    "test_stop_limit_order_triggers_then_fills_at_its_limit_or_better",
    "test_stop_order_triggers_at_its_stop",
    "test_submit_is_idempotent_on_the_client_order_id",
]
