"""Risk rails: every rule, the kill switch and its persistence, the UTC day, the config file,
and stale feeds."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from stratequeue.errors import UsageError
from stratequeue.risk import RiskConfig, RiskGuard, RiskLimits, StaleFeed, load_risk_config

T0 = datetime(2024, 3, 4, 15, 0, tzinfo=UTC)


def guard(account: RiskLimits | None = None, **strategies: RiskLimits) -> RiskGuard:
    return RiskGuard(RiskConfig(account=account or RiskLimits(), strategies=strategies))


def test_no_limits_let_every_order_through():
    g = guard()
    assert g.check_order("s", "AAPL", "buy", 10, 1e9, T0) is None


def test_max_order_value_per_strategy_and_for_the_account():
    g = guard(RiskLimits(max_order_value=5_000), s=RiskLimits(max_order_value=1_000))
    assert g.check_order("s", "AAPL", "buy", 1, 1_000.01, T0) == "max_order_value"
    assert g.check_order("s", "AAPL", "buy", 1, 1_000, T0) is None
    assert g.check_order("other", "AAPL", "sell", None, 4_000, T0) is None
    assert g.check_order("other", "AAPL", "sell", None, 5_001, T0) == "max_order_value"


def test_max_position_value_counts_what_is_held_and_lets_reductions_through():
    g = guard(RiskLimits(max_position_value=15_000), s=RiskLimits(max_position_value=10_000))
    g.on_position("s", "AAPL", 8_000)
    assert g.check_order("s", "AAPL", "buy", 10, 2_500, T0) == "max_position_value"
    assert g.check_order("s", "AAPL", "buy", 10, 2_000, T0) is None
    assert g.check_order("s", "AAPL", "sell", 10, 5_000, T0) is None  # reduces
    g.on_position("s", "AAPL", 12_000)  # over the limit after a price move: may still reduce
    assert g.check_order("s", "AAPL", "sell", 1, 1_000, T0) is None
    assert g.check_order("s", "AAPL", "sell", 1, 30_000, T0) == "max_position_value"  # flips short
    # The account adds strategies' positions in the same symbol.
    g.on_position("t", "AAPL", 2_000)
    assert g.check_order("t", "AAPL", "buy", 1, 1_500, T0) == "max_position_value"
    assert g.check_order("t", "MSFT", "buy", 1, 1_500, T0) is None


def test_max_orders_per_minute_is_a_sliding_window_and_counts_only_accepted_orders():
    g = guard(RiskLimits(max_orders_per_minute=3), s=RiskLimits(max_orders_per_minute=2))
    assert g.check_order("s", "X", "buy", 1, 1, T0) is None
    assert g.check_order("s", "X", "buy", 1, 1, T0 + timedelta(seconds=30)) is None
    assert (
        g.check_order("s", "X", "buy", 1, 1, T0 + timedelta(seconds=59)) == "max_orders_per_minute"
    )
    assert g.check_order("t", "X", "buy", 1, 1, T0 + timedelta(seconds=59)) is None  # account: 3rd
    assert (
        g.check_order("t", "X", "buy", 1, 1, T0 + timedelta(seconds=59)) == "max_orders_per_minute"
    )
    assert g.check_order("s", "X", "buy", 1, 1, T0 + timedelta(seconds=60)) is None  # T0 expired


def test_allowed_symbols_block_new_positions_but_not_exits():
    g = guard(
        RiskLimits(allowed_symbols=frozenset({"AAPL", "MSFT"})),
        s=RiskLimits(allowed_symbols=frozenset({"AAPL"})),
    )
    assert g.check_order("s", "MSFT", "buy", 1, 100, T0) == "allowed_symbols"
    assert g.check_order("t", "MSFT", "buy", 1, 100, T0) is None
    assert g.check_order("t", "TSLA", "sell", 1, 100, T0) == "allowed_symbols"
    g.on_position("t", "TSLA", -100)
    assert g.check_order("t", "TSLA", "buy", 1, 100, T0) is None  # closing a short


def test_max_daily_loss_kills_a_strategy_until_the_next_utc_midnight():
    g = guard(s=RiskLimits(max_daily_loss=500))
    assert g.on_equity("s", 10_000, T0) is None
    assert g.on_equity("s", 9_600, T0 + timedelta(hours=1)) is None
    assert g.on_equity("s", 9_500, T0 + timedelta(hours=2)) == "max_daily_loss"
    assert g.killed("s") and not g.killed("t") and not g.killed()
    assert g.check_order("s", "X", "buy", 1, 10, T0 + timedelta(hours=3)) == "max_daily_loss"
    assert g.check_order("t", "X", "buy", 1, 10, T0 + timedelta(hours=3)) is None
    g.on_position("s", "X", 1_000)
    assert g.check_order("s", "X", "sell", 1, 1_000, T0 + timedelta(hours=3)) is None  # flatten
    # 23:59:59 UTC is still the same day; 00:00 UTC starts a new one from that day's first equity.
    last_second = datetime(2024, 3, 4, 23, 59, 59, tzinfo=UTC)
    assert g.check_order("s", "X", "buy", 1, 10, last_second) == "max_daily_loss"
    midnight = datetime(2024, 3, 5, tzinfo=UTC)
    assert g.on_equity("s", 9_400, midnight) is None
    assert not g.killed("s")
    assert g.on_equity("s", 8_900, midnight + timedelta(hours=1)) == "max_daily_loss"


def test_the_day_is_the_utc_day_whatever_the_clock_zone():
    g = guard(s=RiskLimits(max_daily_loss=100))
    new_york = datetime(2024, 3, 4, 20, 0, tzinfo=UTC).astimezone(
        ZoneInfo("America/New_York")
    )  # 15:00 in New York, 20:00 UTC
    g.on_equity("s", 1_000, new_york)
    # 19:30 New York on the same local day is 00:30 UTC the next day: a new trading day.
    assert g.on_equity("s", 850, new_york + timedelta(hours=4, minutes=30)) is None


def test_max_drawdown_kills_from_the_peak_and_lasts_until_reset():
    g = guard(s=RiskLimits(max_drawdown=0.10, flatten_on_kill=True))
    for equity in (10_000, 12_000, 11_000):
        assert g.on_equity("s", equity, T0) is None
    assert g.on_equity("s", 10_800, T0) == "max_drawdown"  # 12_000 x 0.9
    assert g.limits("s").flatten_on_kill
    assert g.on_equity("s", 13_000, T0 + timedelta(days=3)) is None
    assert g.killed("s")  # a new day does not lift a drawdown kill
    g.reset("s")
    assert not g.killed("s")
    assert g.check_order("s", "X", "buy", 1, 10, T0 + timedelta(days=3)) is None


def test_account_kill_switch_stops_every_strategy_from_opening():
    g = guard(RiskLimits(max_drawdown=0.2, max_daily_loss=10_000))
    g.on_account_equity(100_000, T0)
    assert g.on_account_equity(79_999, T0) == "max_drawdown"  # both breached: the lasting one
    assert g.killed() and g.killed("any") and g.kill_reason("any") == "max_drawdown"
    assert g.check_order("any", "X", "sell", 1, 10, T0) == "max_drawdown"
    g.on_position("any", "X", 50)
    assert g.check_order("any", "X", "sell", 1, 50, T0) is None


def test_kill_switch_state_survives_a_restart_through_export_and_import():
    limits = RiskConfig(
        account=RiskLimits(max_drawdown=0.5), strategies={"s": RiskLimits(max_daily_loss=100)}
    )
    before = RiskGuard(limits)
    before.on_equity("s", 1_000, T0)
    before.on_equity("s", 900, T0)
    before.on_account_equity(10_000, T0)
    state = json.loads(json.dumps(before.export_state()))  # as the ledger would keep it

    after = RiskGuard(limits)
    after.import_state(state)
    assert after.killed("s") and after.kill_reason("s") == "max_daily_loss"
    assert after.check_order("s", "X", "buy", 1, 1, T0) == "max_daily_loss"
    # The peak and the day start came back too: a drop below them trips without new highs.
    assert after.on_account_equity(4_999, T0) == "max_drawdown"
    fresh = RiskGuard(limits)
    fresh.import_state(state)
    assert fresh.export_state() == state
    with pytest.raises(ValueError, match="version"):
        fresh.import_state({"version": 99})


def write(tmp_path, text: str):
    path = tmp_path / "stratequeue.toml"
    path.write_text(text)
    return path


def test_config_file_loads_account_and_strategy_limits(tmp_path):
    config = load_risk_config(
        write(
            tmp_path,
            """
[run]
anything = "belongs to someone else"

[risk]
max_position_value = 50000
max_order_value = 10000
max_orders_per_minute = 30
max_daily_loss = 2000
max_drawdown = 0.15
allowed_symbols = ["aapl", "MSFT"]
flatten_on_kill = true

[risk.strategies.sma_short]
max_order_value = 2500
""",
        )
    )
    assert config.account == RiskLimits(
        max_position_value=50_000,
        max_order_value=10_000,
        max_orders_per_minute=30,
        max_daily_loss=2_000,
        max_drawdown=0.15,
        allowed_symbols=frozenset({"AAPL", "MSFT"}),
        flatten_on_kill=True,
    )
    assert config.for_strategy("sma_short") == RiskLimits(max_order_value=2_500)
    assert config.for_strategy("unknown") == RiskLimits()
    assert load_risk_config(write(tmp_path, "")) == RiskConfig()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[risk]\nmax_ordr_value = 1\n", r"\[risk\]: unknown risk setting 'max_ordr_value'"),
        (
            "[risk.strategies.sma]\nallowed = ['X']\n",
            r"\[risk.strategies.sma\]: unknown risk setting 'allowed'",
        ),
        ("[risk]\nmax_drawdown = 15\n", "'max_drawdown' is a fraction below 1"),
        ("[risk]\nmax_order_value = -5\n", "'max_order_value' must be a number above 0"),
        ("[risk]\nmax_orders_per_minute = 2.5\n", "'max_orders_per_minute' must be a whole number"),
        ("[risk]\nflatten_on_kill = 'yes'\n", "'flatten_on_kill' must be true or false"),
        ("[risk]\nallowed_symbols = 'AAPL'\n", "'allowed_symbols' must be a list"),
        ("[risk\n", "is not valid TOML"),
    ],
)
def test_config_errors_name_the_key_and_the_file(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(UsageError, match=message) as error:
        load_risk_config(path)
    assert str(path) in str(error.value)


def test_missing_config_file_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="No config file at"):
        load_risk_config(tmp_path / "nope.toml")


def test_stale_feed_pauses_silent_symbols_and_resumes_when_bars_return():
    feed = StaleFeed(60, periods=3)
    feed.expect(["AAPL", "MSFT"], T0)
    feed.on_bar("AAPL", T0 + timedelta(minutes=1))
    assert feed.stale(T0 + timedelta(minutes=3)) == set()
    assert feed.stale(T0 + timedelta(minutes=3, seconds=1)) == {"MSFT"}
    assert feed.stale(T0 + timedelta(minutes=4, seconds=1)) == {"AAPL", "MSFT"}
    feed.on_bar("MSFT", T0 + timedelta(minutes=4))
    feed.on_bar("MSFT", T0 + timedelta(minutes=2))  # a late, older bar does not move the clock
    assert feed.stale(T0 + timedelta(minutes=4, seconds=1)) == {"AAPL"}
    assert feed.stale(T0 + timedelta(minutes=5, seconds=1)) == {"AAPL"}
    with pytest.raises(ValueError):
        StaleFeed(0)
