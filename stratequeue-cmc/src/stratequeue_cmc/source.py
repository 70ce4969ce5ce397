"""The ``coinmarketcap`` (alias ``cmc``) data source: polled quotes, optional OHLCV history."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

from stratequeue.data.base import BaseDataSource, DataSourceConfig
from stratequeue.data.live import BarFilter, BarFolder, BarGrid, TransientError
from stratequeue.models import Bar

from .client import CmcClient, PlanNotAuthorized
from .payloads import cmc_symbol, parse_ohlcv, parse_quotes
from .settings import SETUP_TEXT, CmcSettings
from .volume import estimated_volume, sample_bar

__all__ = ["CoinMarketCapDataSource"]

log = logging.getLogger(__name__)

QUOTES_PATH = "/v2/cryptocurrency/quotes/latest"
OHLCV_PATH = "/v2/cryptocurrency/ohlcv/historical"
KEY_INFO_PATH = "/v1/key/info"


def _opt(options: Any, name: str, default: float) -> float:
    value = options.get(name, default)
    return float(default if value is None else value)


class CoinMarketCapDataSource(BaseDataSource):
    """CoinMarketCap quotes.

    Options: ``requests_per_minute`` (default: the key's plan from /v1/key/info, else 30),
    ``poll_seconds`` (default: ``CMC_POLL_SECONDS``, else a quarter of the bar, 15 s to 5 min;
    never shorter than the rate limit allows),
    ``rate_limit_wait_seconds`` (default 60), ``http_timeout_seconds`` (default 10) and
    ``clock`` (a callable returning aware UTC time, for tests).
    """

    name = "coinmarketcap"
    display_name = "CoinMarketCap"
    granularities = ("1m", "5m", "15m", "30m", "1h", "1d")
    env_vars = ("CMC_API_KEY",)

    def __init__(self, config: DataSourceConfig) -> None:
        super().__init__(config)
        self.settings = CmcSettings.from_env(config.env)
        opts = config.options
        self.client = CmcClient(
            self.settings,
            timeout=_opt(opts, "http_timeout_seconds", 10),
            rate_limit_wait=_opt(opts, "rate_limit_wait_seconds", 60),
            wait=self._stop.wait,
        )
        self._rpm_option = opts.get("requests_per_minute")
        self._poll_option = opts.get("poll_seconds") or self.settings.poll_seconds
        self.filter = BarFilter(self.granularity, clock=self._clock)
        self._said_warmup = False

    @classmethod
    def setup_instructions(cls) -> str:
        return SETUP_TEXT

    def close(self) -> None:
        super().close()
        self.client.close()

    # -- history -------------------------------------------------------------------------

    def history(self, symbol: str, bars: int) -> list[Bar]:
        coin = cmc_symbol(symbol)
        gran = self.granularity
        if str(gran) not in ("1h", "1d"):
            self._warm_up_notice(
                bars, f"CoinMarketCap has no {gran} history (ohlcv/historical is hourly/daily)"
            )
            return []
        period = "hourly" if gran.unit == "h" else "daily"
        now = self._clock()
        try:
            data = self.client.get(
                OHLCV_PATH,
                {
                    "symbol": coin,
                    "time_period": period,
                    "interval": period,
                    "count": bars + 1,
                    "time_end": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "convert": "USD",
                },
            )
        except PlanNotAuthorized as exc:
            self._warm_up_notice(bars, f"this key's plan has no OHLCV history (error 1006: {exc})")
            return []
        except TransientError as exc:
            log.warning("CoinMarketCap history for %s unavailable (%s)", symbol, exc)
            self._warm_up_notice(bars, "the history request failed")
            return []
        closed = [b for b in parse_ohlcv(data, coin, symbol) if b.timestamp + gran.timedelta <= now]
        good = list(BarFilter(gran, clock=self._clock).filter(closed))[-bars:]
        if good:
            self.filter.mark(symbol, good[-1].timestamp)
        return good

    def _warm_up_notice(self, bars: int, why: str) -> None:
        if self._said_warmup:
            return
        self._said_warmup = True
        # the period under way is partial and never emitted: the first live bar is the next one
        now = self._clock()
        rest_of_period = self.granularity.floor(now) + self.granularity.timedelta - now
        wait = rest_of_period + self.granularity.timedelta * bars
        log.warning(
            "%s: warming the strategy up from live samples instead; it has its %d bars "
            "of %s after about %s.",
            why,
            bars,
            self.granularity,
            _human(wait),
        )

    # -- live ----------------------------------------------------------------------------

    def stream(self, symbols: Sequence[str]) -> Iterator[Bar]:
        users = {cmc_symbol(s): s for s in symbols}
        coins = sorted(users)
        folder = BarFolder(
            {user: BarGrid(self.granularity) for user in users.values()},
            timedelta(0),  # a quote is an instant: periods close by the clock
            self.filter,
            volume=estimated_volume,
            logger=log,
        )
        now = self._clock()
        for user in users.values():
            # the period under way when the run starts would be partial: it is never emitted
            self.filter.mark(user, self.granularity.floor(now))
        seen: dict[str, datetime] = {}
        interval = self._poll_interval(len(coins))
        log.info(
            "CoinMarketCap: polling quotes/latest every %.0f s for %s (one request per poll)",
            interval.total_seconds(),
            ", ".join(coins),
        )
        next_poll = now
        while not self.stopped:
            now = self._clock()
            if now >= next_poll:
                next_poll = now + interval
                try:
                    data = self.client.get(
                        QUOTES_PATH, {"symbol": ",".join(coins), "convert": "USD"}
                    )
                except TransientError as exc:
                    log.warning("CoinMarketCap poll skipped: %s", exc)
                    data = None
                for sample in parse_quotes(data, coins) if data is not None else []:
                    last = seen.get(sample.symbol)
                    if last is None or sample.time > last:  # else the quote was not updated
                        seen[sample.symbol] = sample.time
                        folder.add(sample_bar(sample, users[sample.symbol]))
                for bar in folder.close_through(self._clock()):
                    if self.stopped:
                        return
                    yield bar
            self._stop.wait(0.05)

    def _poll_interval(self, count: int) -> timedelta:
        rpm = float(str(self._rpm_option)) if self._rpm_option else self._plan_rate_limit()
        floor = 60.0 / max(rpm, 1.0)
        if self._poll_option:
            return timedelta(seconds=max(float(self._poll_option), floor))  # type: ignore[arg-type]
        wanted = min(max(self.granularity.seconds / 4, 15.0), 300.0)
        return timedelta(seconds=max(wanted, floor))

    def _plan_rate_limit(self) -> float:
        """Requests per minute the key's plan allows (key/info costs no credits)."""
        try:
            data = self.client.get(KEY_INFO_PATH, {})
            return float(data["plan"]["rate_limit_minute"])
        except (TransientError, PlanNotAuthorized, KeyError, TypeError, ValueError) as exc:
            log.info("CoinMarketCap key info unavailable (%s); assuming 30 requests/min", exc)
            return 30.0


def _human(span: timedelta) -> str:
    minutes = span.total_seconds() / 60
    if minutes < 120:
        return f"{minutes:.0f} min"
    if minutes < 60 * 48:
        return f"{minutes / 60:.1f} h"
    return f"{minutes / 1440:.1f} days"
