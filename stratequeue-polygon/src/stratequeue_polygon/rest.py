"""Polygon's aggregates endpoint through the official client (``massive``).

``massive`` (and urllib3 under it) is imported when the first client is built, not when this
module is: the plugin is loaded by every ``stratequeue`` command, ``--help`` included."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from stratequeue.data.live import TransientError, num
from stratequeue.errors import DataSourceError
from stratequeue.granularity import Granularity
from stratequeue.models import Bar

from .periods import rest_span
from .settings import PolygonSettings
from .symbols import PolygonSymbol

if TYPE_CHECKING:
    from massive.exceptions import BadResponse

__all__ = ["RestAggregates", "agg_bar"]

log = logging.getLogger(__name__)


class RestAggregates:
    def __init__(
        self, settings: PolygonSettings, *, timeout: float = 10.0, retries: int = 3
    ) -> None:
        from massive import RESTClient

        self._client = RESTClient(
            api_key=settings.api_key,
            base=settings.base_url,
            connect_timeout=timeout,
            read_timeout=timeout,
            retries=retries,
        )

    def fetch(
        self,
        symbol: PolygonSymbol,
        granularity: Granularity,
        start: datetime,
        end: datetime,
        *,
        newest_first: bool = False,
        max_bars: int | None = None,
    ) -> list[Bar]:
        """Bars of ``symbol`` starting in ``[start, end]``, following pagination; with
        ``newest_first`` and ``max_bars`` it stops reading pages once it has enough."""
        from massive.exceptions import BadResponse

        multiplier, timespan = rest_span(granularity)
        bars: list[Bar] = []
        try:
            aggs = self._client.list_aggs(
                symbol.ticker,
                multiplier,
                timespan,
                _ms(start),
                _ms(end),
                adjusted=True,
                sort="desc" if newest_first else "asc",
                limit=50000,
            )
            for agg in aggs:
                if agg.timestamp is None:
                    continue
                bars.append(agg_bar(symbol.user, agg.timestamp, agg))
                if max_bars is not None and len(bars) >= max_bars:
                    break
        except BadResponse as exc:
            raise _bad_response(exc, symbol) from None
        except Exception as exc:  # urllib3 MaxRetryError, timeouts, refused connections
            raise TransientError(
                f"Polygon REST request for {symbol.ticker} failed: {exc}"
            ) from None
        return bars


def _ms(ts: datetime) -> int:
    return int(ts.timestamp() * 1000)


def agg_bar(user_symbol: str, start_ms: int, agg: Any) -> Bar:
    """A Polygon aggregate (REST ``Agg`` or websocket ``EquityAgg``) as a bar of ``user_symbol``."""
    return Bar(
        symbol=user_symbol,
        timestamp=datetime.fromtimestamp(start_ms / 1000, tz=UTC),
        open=num(agg.open),
        high=num(agg.high),
        low=num(agg.low),
        close=num(agg.close),
        volume=num(agg.volume),
    )


def _bad_response(exc: BadResponse, symbol: PolygonSymbol) -> DataSourceError:
    text = str(exc)
    try:
        body = json.loads(text)
    except ValueError:
        body = {}
    status = str(body.get("status", ""))
    message = str(body.get("error") or body.get("message") or text)[:300]
    if "api key" in message.lower() or status == "ERROR" and "key" in message.lower():
        return DataSourceError(
            f"Polygon rejected the API key ({message}). Check POLYGON_API_KEY "
            "(keys: https://polygon.io/dashboard/keys; help: stratequeue --data-setup polygon)"
        )
    if status == "NOT_AUTHORIZED":
        return DataSourceError(
            f"Polygon's plan for this key does not cover {symbol.ticker} aggregates: {message} "
            "Upgrade at https://polygon.io/pricing or choose another data source."
        )
    return DataSourceError(f"Polygon refused the aggregates request for {symbol.ticker}: {message}")
