"""Messages the fake TWS sends, as field lists, at server version 176 (``wire.frame`` them).

The field orders are those ib_async 2.x's decoder reads (``ib_async/decoder.py``); a field
the fake has no value for is sent empty, which the decoder reads as "unset".
"""

from __future__ import annotations

from datetime import datetime

from .state import FakeExecution, FakeOrder, Instrument
from .tape import TapeBar

__all__ = [
    "SERVER_VERSION",
    "account_download_end",
    "account_summary",
    "account_summary_end",
    "account_update_multi",
    "account_update_multi_end",
    "account_value",
    "commission_report",
    "completed_order",
    "completed_orders_end",
    "error",
    "exec_details",
    "exec_details_end",
    "historical_data",
    "ib_time",
    "managed_accounts",
    "next_valid_id",
    "open_order",
    "open_order_end",
    "order_status",
    "portfolio_value",
    "position",
    "position_end",
    "realtime_bar",
]

#: the last text-protocol version before protobuf (201+); ib_async 2.x takes 157..178
SERVER_VERSION = 176

Fields = list[object]


def ib_time(ts: datetime) -> str:
    """``20240603 14:30:00 UTC``: how TWS writes a time with its zone."""
    return ts.strftime("%Y%m%d %H:%M:%S UTC")


def _contract(i: Instrument) -> Fields:
    """The 11 contract fields of positions, executions and orders (no primary exchange)."""
    return [
        i.con_id,
        i.symbol,
        i.sec_type,
        i.last_trade,
        "",  # strike
        "",  # right
        i.multiplier,
        i.exchange,
        i.currency,
        i.local_symbol or i.symbol,
        "",  # trading class
    ]


def next_valid_id(order_id: int) -> Fields:
    return [9, 1, order_id]


def managed_accounts(accounts: list[str]) -> Fields:
    return [15, 1, ",".join(accounts)]


def error(req_id: int, code: int, message: str) -> Fields:
    return [4, 2, req_id, code, message, ""]  # advancedOrderRejectJson (server version >= 166)


def position(account: str, i: Instrument, qty: float, avg_cost: float) -> Fields:
    return [61, 3, account, *_contract(i), qty, avg_cost]


def position_end() -> Fields:
    return [62, 1]


def account_value(key: str, value: float | str, currency: str, account: str) -> Fields:
    return [6, 2, key, value, currency, account]


def portfolio_value(account: str, i: Instrument, qty: float, price: float, cost: float) -> Fields:
    """updatePortfolio: a position with its market price (contract with primary exchange)."""
    avg = cost / qty if qty else 0.0
    contract = [i.con_id, i.symbol, i.sec_type, i.last_trade, "", "", i.multiplier, "", i.currency]
    return [
        7,
        8,
        *contract,
        i.local_symbol or i.symbol,
        "",  # trading class
        qty,
        price,
        round(qty * price, 2),
        avg,
        round(qty * price - cost, 2),  # unrealized
        0.0,  # realized
        account,
    ]


def account_download_end(account: str) -> Fields:
    return [54, 1, account]


def account_update_multi(
    req_id: int, account: str, key: str, value: float | str, currency: str
) -> Fields:
    return [73, 1, req_id, account, "", key, value, currency]


def account_update_multi_end(req_id: int) -> Fields:
    return [74, 1, req_id]


def account_summary(req_id: int, account: str, tag: str, value: float | str, ccy: str) -> Fields:
    return [63, 1, req_id, account, tag, value, ccy]


def account_summary_end(req_id: int) -> Fields:
    return [64, 1, req_id]


def order_status(o: FakeOrder) -> Fields:
    return [
        3,
        o.order_id,
        o.status,
        o.filled,
        o.remaining if o.is_open else 0.0,
        o.avg_price,
        o.perm_id,
        o.parent_id,
        o.last_fill_price,
        o.client_id,
        "",  # whyHeld
        0.0,  # mktCapPrice
    ]


def _price(value: float | None) -> object:
    return "" if value is None else value


def open_order(o: FakeOrder) -> Fields:
    return [
        5,
        o.order_id,
        *_contract(o.instrument),
        o.action,
        o.qty,
        o.order_type,
        _price(o.lmt),
        _price(o.aux),
        o.tif,
        o.oca_group,
        o.account,
        "O",  # openClose
        0,  # origin: customer
        o.order_ref,
        o.client_id,
        o.perm_id,
        0,  # outsideRth
        0,  # hidden
        0,  # discretionaryAmt
        "",  # goodAfterTime
        "",  # (deprecated sharesAllocation)
        "",  # faGroup
        "",  # faMethod
        "",  # faPercentage
        "",  # faProfile (server version < 177)
        *[""] * 19,  # modelCode .. minQty
        1 if o.oca_group else "",  # ocaType: cancel the rest with block
        *[""] * 3,  # eTradeOnly, firmQuoteOnly, nbboPriceCap
        o.parent_id,
        *[""] * 3,  # triggerMethod, volatility, volatilityType
        "",  # deltaNeutralOrderType (empty: no delta-neutral fields follow)
        "",  # deltaNeutralAuxPrice
        *[""] * 7,  # continuousUpdate .. comboLegsDescrip
        0,  # combo legs
        0,  # order combo legs
        0,  # smart combo routing params
        *[""] * 3,  # scaleInitLevelSize, scaleSubsLevelSize, scalePriceIncrement
        "",  # hedgeType
        *[""] * 4,  # optOutSmartRouting, clearingAccount, clearingIntent, notHeld
        0,  # no delta-neutral contract
        "",  # algoStrategy
        "",  # solicited
        0,  # whatIf
        o.status,
        *[""] * 12,  # margin and commission estimates
        "",  # commissionCurrency
        "",  # warningText
        "",  # randomizeSize
        "",  # randomizePrice
        0,  # conditions
        *[""] * 16,  # adjustedOrderType .. usePriceMgmtAlgo
        "",  # duration (>= 159)
        "",  # postToAts (>= 160)
        "",  # autoCancelParent (>= 162)
        *[""] * 5,  # minTradeQty .. midOffsetAtHalf (>= 170)
    ]


def open_order_end() -> Fields:
    return [53, 1]


def completed_order(o: FakeOrder) -> Fields:
    return [
        101,
        *_contract(o.instrument),
        o.action,
        o.qty,
        o.order_type,
        _price(o.lmt),
        _price(o.aux),
        o.tif,
        o.oca_group,
        o.account,
        "O",  # openClose
        0,  # origin
        o.order_ref,
        o.perm_id,
        0,  # outsideRth
        0,  # hidden
        0,  # discretionaryAmt
        "",  # goodAfterTime
        "",  # faGroup
        "",  # faMethod
        "",  # faPercentage
        "",  # faProfile (server version < 177)
        *[""] * 17,  # modelCode .. minQty
        1 if o.oca_group else "",  # ocaType
        *[""] * 3,  # triggerMethod, volatility, volatilityType
        "",  # deltaNeutralOrderType
        "",  # deltaNeutralAuxPrice
        *[""] * 5,  # continuousUpdate .. comboLegsDescrip
        0,  # combo legs
        0,  # order combo legs
        0,  # smart combo routing params
        *[""] * 3,  # scale fields
        "",  # hedgeType
        *[""] * 3,  # clearingAccount, clearingIntent, notHeld
        0,  # no delta-neutral contract
        "",  # algoStrategy
        "",  # solicited
        o.status,
        "",  # randomizeSize
        "",  # randomizePrice
        0,  # conditions
        *[""] * 6,  # trailStopPrice .. autoCancelDate
        o.filled,  # filledQuantity
        *[""] * 5,  # refFuturesConId .. routeMarketableToBbo
        "",  # parentPermId
        o.completed_time,
        o.completed_status,
        *[""] * 5,  # minTradeQty .. midOffsetAtHalf (>= 170)
    ]


def completed_orders_end() -> Fields:
    return [102]


def exec_details(req_id: int, e: FakeExecution) -> Fields:
    o = e.order
    return [
        11,
        req_id,
        o.order_id,
        *_contract(o.instrument),
        e.exec_id,
        ib_time(e.time),
        o.account,
        "ISLAND",  # where it executed
        "BOT" if o.action == "BUY" else "SLD",
        e.shares,
        e.price,
        o.perm_id,
        o.client_id,
        0,  # liquidation
        e.cum_qty,
        e.avg_price,
        o.order_ref,
        "",  # evRule
        "",  # evMultiplier
        "",  # modelCode
        1,  # lastLiquidity: added
    ]


def exec_details_end(req_id: int) -> Fields:
    return [55, 1, req_id]


def commission_report(e: FakeExecution) -> Fields:
    return [59, 1, e.exec_id, e.commission, "USD", "", "", ""]


def _volume(bar: TapeBar, midpoint: bool) -> float:
    return -1.0 if midpoint else bar.volume


def historical_data(
    req_id: int, start: str, end: str, bars: list[tuple[str, TapeBar]], midpoint: bool
) -> Fields:
    """historicalData (17): the query's start and end, then date, OHLC, volume, WAP and count
    per bar (no version field at server version >= 124)."""
    fields: Fields = [17, req_id, start, end, len(bars)]
    for date, b in bars:
        fields += [date, b.open, b.high, b.low, b.close, _volume(b, midpoint), b.wap, b.count]
    return fields


def realtime_bar(req_id: int, b: TapeBar, midpoint: bool) -> Fields:
    """realtimeBar (50, version 3): the 5-second bar's start (epoch seconds) and its values."""
    return [
        50,
        3,
        req_id,
        b.time,
        b.open,
        b.high,
        b.low,
        b.close,
        _volume(b, midpoint),
        b.wap,
        b.count,
    ]
