"""Errors a user can act on: each message names the thing that is wrong and the fix."""

from __future__ import annotations


class StrateQueueError(Exception):
    """Base class for errors shown to the user as one line, without a traceback."""

    exit_code = 1


class UsageError(StrateQueueError):
    """Bad input from the user: a flag, a file, a name. Exit code 2."""

    exit_code = 2


class PluginError(UsageError):
    """A plugin name that is unknown or claimed twice."""


class StrategyLoadError(UsageError):
    """A strategy file that cannot be used."""


class DataSourceError(StrateQueueError):
    """A data source that cannot deliver (missing key, refused plan, unreachable)."""


class BrokerError(StrateQueueError):
    """A broker that cannot be used (missing credentials, refused connection)."""


class StrategyError(StrateQueueError):
    """A strategy (or backtesting.py on its behalf) raised: the strategy's error, not ours.
    The message names the strategy, where it raised (file, line) and what."""
