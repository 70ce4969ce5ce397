"""The ledger's tables, one migration per schema version.

A database written by an older StrateQueue is migrated forward when opened; one written by a
newer StrateQueue is refused with a clear error (never guessed at).
"""

from __future__ import annotations

SCHEMA_VERSION = 5

MIGRATIONS: dict[int, str] = {
    1: """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE runs (
    run_id INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at TEXT NOT NULL, ended_at TEXT, end_reason TEXT,
    mode TEXT NOT NULL, broker TEXT NOT NULL, data_source TEXT NOT NULL,
    granularity TEXT NOT NULL, symbols TEXT NOT NULL, account_equity REAL
);
CREATE TABLE strategies (
    strategy_id TEXT PRIMARY KEY, file TEXT NOT NULL, allocation REAL NOT NULL,
    capital REAL NOT NULL, symbols TEXT NOT NULL, updated_at TEXT NOT NULL
);
CREATE TABLE sleeves (
    strategy_id TEXT NOT NULL, symbol TEXT NOT NULL, capital REAL NOT NULL,
    history_bars INTEGER NOT NULL, first_live TEXT, flattened INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (strategy_id, symbol)
);
CREATE TABLE sleeve_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, strategy_id TEXT NOT NULL, symbol TEXT NOT NULL,
    after_ts TEXT, kind TEXT NOT NULL, amount REAL NOT NULL DEFAULT 0, ref TEXT,
    created_at TEXT NOT NULL
);
CREATE TABLE bars (
    symbol TEXT NOT NULL, ts TEXT NOT NULL, open REAL, high REAL, low REAL, close REAL,
    volume REAL, PRIMARY KEY (symbol, ts)
);
CREATE TABLE signals (
    id INTEGER PRIMARY KEY AUTOINCREMENT, run_id INTEGER, strategy_id TEXT NOT NULL,
    symbol TEXT NOT NULL, bar_time TEXT NOT NULL, signal TEXT NOT NULL, price REAL,
    size REAL, detail TEXT
);
CREATE TABLE intents (
    strategy_id TEXT NOT NULL, symbol TEXT NOT NULL, ref TEXT NOT NULL, action TEXT NOT NULL,
    run_id INTEGER, bar_time TEXT NOT NULL, size REAL, order_type TEXT, limit_price REAL,
    stop_price REAL, sl REAL, tp REAL, tag TEXT, parent_ref TEXT, client_order_id TEXT,
    created_at TEXT NOT NULL, PRIMARY KEY (strategy_id, symbol, ref, action)
);
CREATE TABLE orders (
    client_order_id TEXT PRIMARY KEY, run_id INTEGER, symbol TEXT NOT NULL, side TEXT NOT NULL,
    qty REAL, notional REAL, order_type TEXT NOT NULL, limit_price REAL, stop_price REAL,
    time_in_force TEXT, order_class TEXT NOT NULL DEFAULT 'simple', take_profit REAL,
    stop_loss REAL, status TEXT NOT NULL,
    broker_order_id TEXT, message TEXT,
    filled_qty REAL NOT NULL DEFAULT 0, created_at TEXT NOT NULL, updated_at TEXT NOT NULL
);
CREATE TABLE order_legs (
    client_order_id TEXT NOT NULL, strategy_id TEXT NOT NULL, ref TEXT NOT NULL, size REAL,
    PRIMARY KEY (client_order_id, strategy_id, ref)
);
CREATE TABLE order_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, client_order_id TEXT NOT NULL, event TEXT NOT NULL,
    status TEXT, message TEXT, ts TEXT NOT NULL
);
CREATE TABLE fills (
    id INTEGER PRIMARY KEY AUTOINCREMENT, execution_id TEXT UNIQUE NOT NULL,
    client_order_id TEXT NOT NULL, symbol TEXT NOT NULL, side TEXT NOT NULL, qty REAL NOT NULL,
    price REAL NOT NULL, commission REAL NOT NULL DEFAULT 0, ts TEXT NOT NULL
);
CREATE TABLE fill_allocations (
    fill_id INTEGER NOT NULL, strategy_id TEXT NOT NULL, symbol TEXT NOT NULL, ref TEXT,
    qty REAL NOT NULL, price REAL NOT NULL, commission REAL NOT NULL DEFAULT 0,
    applied_before TEXT
);
CREATE TABLE trades (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, strategy_id TEXT NOT NULL, symbol TEXT NOT NULL,
    trade_ref TEXT NOT NULL, status TEXT NOT NULL, size REAL NOT NULL, entry_bar INTEGER,
    exit_bar INTEGER, entry_price REAL, exit_price REAL, sl REAL, tp REAL, pnl REAL,
    commission REAL, return_pct REAL, entry_time TEXT, exit_time TEXT, tag TEXT
);
CREATE INDEX trades_open ON trades (strategy_id, symbol, trade_ref, status);
CREATE TABLE equity (
    ts TEXT NOT NULL, strategy_id TEXT NOT NULL, cash REAL NOT NULL, equity REAL NOT NULL,
    PRIMARY KEY (ts, strategy_id)
);
CREATE TABLE positions (
    ts TEXT NOT NULL, strategy_id TEXT NOT NULL, symbol TEXT NOT NULL, qty REAL NOT NULL,
    avg_price REAL, market_price REAL, PRIMARY KEY (ts, strategy_id, symbol)
);
""",
    # 2: operator controls (ledger/controls.py) and the running process's heartbeat
    2: """
CREATE TABLE controls (
    id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, strategy_id TEXT, symbol TEXT,
    args TEXT NOT NULL DEFAULT '{}', requested_by TEXT NOT NULL, requested_at TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending', run_id INTEGER, applied_at TEXT, bar_time TEXT,
    result TEXT
);
CREATE INDEX controls_pending ON controls (status, id);
ALTER TABLE runs ADD COLUMN heartbeat_at TEXT;
""",  # 3: what `stratequeue verify` needs to re-run a sleeve's backtest (ledger/verification.py)
    3: """
CREATE TABLE run_settings (
    run_id INTEGER PRIMARY KEY, fills TEXT NOT NULL, replay INTEGER NOT NULL,
    cash REAL NOT NULL, lookback INTEGER, backtest_options TEXT NOT NULL
);
CREATE TABLE strategy_files (
    run_id INTEGER NOT NULL, strategy_id TEXT NOT NULL, file TEXT NOT NULL,
    sha256 TEXT NOT NULL, params TEXT NOT NULL, PRIMARY KEY (run_id, strategy_id)
);
CREATE TABLE run_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, run_id INTEGER, strategy_id TEXT, symbol TEXT,
    kind TEXT NOT NULL, detail TEXT NOT NULL DEFAULT '{}', ts TEXT NOT NULL
);
ALTER TABLE sleeves ADD COLUMN history_sha256 TEXT;
""",
    # 4: the signal extractor that loaded each run's strategy files (--extractor)
    4: """
ALTER TABLE runs ADD COLUMN extractor TEXT NOT NULL DEFAULT 'backtesting';
""",
    # 5: when each live bar reached StrateQueue (NULL: warm-up history, replays, older ledgers),
    # so that `stratequeue verify` can tell a late bar (verify/arrival.py)
    5: """
ALTER TABLE bars ADD COLUMN received_at TEXT;
""",
}
