"""Returns distribution and probabilistic Sharpe ratio: what the ``analytics`` extra (scipy)
adds to the report.

scipy is imported lazily and only here; :func:`scipy_available` tells the report whether to
draw this section or print the line naming the extra.
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "INSTALL_HINT",
    "ReturnsStats",
    "probabilistic_sharpe",
    "returns_stats",
    "scipy_available",
]

#: What the report says where this section would be when scipy is missing.
INSTALL_HINT = (
    "Returns distribution and probabilistic Sharpe ratio: install the analytics extra, "
    'pip install "stratequeue[analytics]" (scipy).'
)


@dataclass(frozen=True)
class ReturnsStats:
    """The per-bar returns of one equity curve.

    ``kurtosis`` is Pearson's (3 for a normal distribution); ``sharpe`` is per bar, not
    annualised; ``psr`` is the probability that the true per-bar Sharpe ratio is above 0.
    NaN wherever too few returns (four for the skewness, kurtosis and PSR) or a flat curve
    make a value meaningless.
    """

    name: str
    returns: np.ndarray
    mean: float
    std: float
    skew: float
    kurtosis: float
    sharpe: float
    psr: float


def scipy_available() -> bool:
    """True when scipy can be imported (``pip install "stratequeue[analytics]"``)."""
    try:
        return importlib.util.find_spec("scipy") is not None
    except (ImportError, ValueError):
        return False


def probabilistic_sharpe(returns: np.ndarray, benchmark: float = 0.0) -> float:
    """Probability that the true per-bar Sharpe ratio exceeds ``benchmark``.

    Bailey and López de Prado's PSR: the observed per-bar Sharpe ratio ``sr`` of ``n``
    returns with skewness ``g3`` and Pearson kurtosis ``g4`` gives
    ``Φ((sr - benchmark) √(n - 1) / √(1 - g3·sr + (g4 - 1)/4·sr²))``.

    Args:
        returns: per-bar simple returns (fractions), oldest first.
        benchmark: the per-bar Sharpe ratio to beat (0: "is there any edge at all").

    Returns:
        A probability in [0, 1], or NaN for fewer than four returns (the sample kurtosis
        needs four) or zero variance.

    Raises:
        ModuleNotFoundError: scipy is not installed.
    """
    from scipy import stats as sps

    values = np.asarray(returns, dtype=float)
    values = values[np.isfinite(values)]
    if len(values) < 4:
        return math.nan
    std = float(values.std(ddof=1))
    if std == 0.0:
        return math.nan
    sr = float(values.mean()) / std
    g3 = float(sps.skew(values, bias=False))
    g4 = float(sps.kurtosis(values, fisher=False, bias=False))
    variance = 1.0 - g3 * sr + (g4 - 1.0) / 4.0 * sr * sr
    if not variance > 0.0:
        return math.nan
    return float(sps.norm.cdf((sr - benchmark) * math.sqrt(len(values) - 1) / math.sqrt(variance)))


def returns_stats(name: str, curve: pd.Series) -> ReturnsStats:
    """The returns distribution of ``curve`` (equity over time) and its PSR.

    Raises:
        ModuleNotFoundError: scipy is not installed.
    """
    from scipy import stats as sps

    values = curve.pct_change().dropna().to_numpy(dtype=float)
    values = values[np.isfinite(values)]
    enough = len(values) >= 4
    std = float(values.std(ddof=1)) if len(values) >= 2 else math.nan
    varied = enough and std > 0.0
    return ReturnsStats(
        name=name,
        returns=values,
        mean=float(values.mean()) if len(values) else math.nan,
        std=std,
        skew=float(sps.skew(values, bias=False)) if varied else math.nan,
        kurtosis=float(sps.kurtosis(values, fisher=False, bias=False)) if varied else math.nan,
        sharpe=float(values.mean()) / std if varied else math.nan,
        psr=probabilistic_sharpe(values),
    )
