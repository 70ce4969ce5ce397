"""Reading a data plugin's settings from the run's environment, with errors that say the fix."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from ...errors import DataSourceError

__all__ = ["env_key", "env_url"]


def env_key(env: Mapping[str, str], var: str, source: str, get_it: str) -> str:
    """The API key in ``var``; a missing one is a DataSourceError saying where to ``get_it``
    (e.g. ``"a free key at https://..."``)."""
    key = (env.get(var) or "").strip()
    if not key:
        raise DataSourceError(
            f"The {source} data source needs {var}. Get {get_it}, then: export {var}=your-key "
            f"(details: stratequeue --data-setup {source})"
        )
    return key


def env_url(
    env: Mapping[str, str], var: str, default: str, schemes: tuple[str, ...], example: str
) -> str:
    """The URL in ``var`` (else ``default``), without a trailing slash; one whose scheme is
    not in ``schemes`` is a DataSourceError showing an ``example``."""
    url = (env.get(var) or default).strip().rstrip("/")
    if urlsplit(url).scheme not in schemes:
        starts = " or ".join(f"{s}://" for s in schemes)
        raise DataSourceError(f"{var} must start with {starts} (got '{url}'), e.g. {example}")
    return url
