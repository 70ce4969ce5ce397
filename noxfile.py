"""Test sessions, one per distribution, each in its own virtualenv and pytest process.

nox                 # everything (what CI runs)
nox -s core_alone   # the core with no plugin installed runs the demo
nox -s lint typecheck
nox -s docs         # the documentation site, mkdocs build --strict (site/)
"""

from __future__ import annotations

from pathlib import Path

import nox

nox.options.default_venv_backend = "uv"
nox.options.error_on_missing_interpreters = True
nox.options.sessions = [
    "lint",
    "typecheck",
    "core",
    "core_alone",
    "alpaca",
    "polygon",
    "cmc",
    "ib",
    "schwab",
    "coinbase",
    "coinbase_sdk",
    "integration",
    "analytics",
    "example_plugin",
    "docs",
    "ray",
]

CORE = "./stratequeue-core"
PLUGINS = {
    "alpaca": "./stratequeue-alpaca",
    "polygon": "./stratequeue-polygon",
    "cmc": "./stratequeue-cmc",
    "ib": "./stratequeue-ib",
    "schwab": "./stratequeue-schwab",
    "coinbase": "./stratequeue-coinbase",
}
EXAMPLE_PLUGIN = "./examples/stratequeue-toy"
ENV = {"TQDM_DISABLE": "1", "PYTHONHASHSEED": "0"}
# Two workers (this project's machines have 2 cores); a file's tests stay on one worker so
# its module fixtures (fake servers, clean reference runs) are built once.
XDIST = ("-n", "2", "--dist", "loadfile")
# The cross-package tests mostly wait: runs of 1-second bars against the fakes, in real time.
# Four workers overlap the waits (measured: 4.6 min instead of 8.4 on 2 cores).
XDIST_WAITING = ("-n", "4", "--dist", "loadfile")


def _pytest(
    session: nox.Session,
    *args: str,
    parallel: bool = False,
    env: dict[str, str] | None = None,
    workers: tuple[str, ...] = XDIST,
) -> None:
    """pytest on ``args`` (quiet, no cache; ``workers`` with ``parallel``), then the session's
    own arguments (``nox -s core -- -k parity``)."""
    workers = workers if parallel else ()
    session.run(
        "pytest", *args, *workers, "-q", "-p", "no:cacheprovider", *session.posargs,
        env=env or ENV,
    )  # fmt: skip


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    session.install(
        "mypy>=1.11",
        "pandas-stubs",
        "-e",
        CORE,
        *[f"-e{p}" for p in PLUGINS.values()],
        "-e",
        EXAMPLE_PLUGIN,
    )
    session.run(
        "mypy",
        "stratequeue-core/src",
        *[f"{p}/src" for p in PLUGINS.values()],
        f"{EXAMPLE_PLUGIN}/src",
    )


@nox.session
def core(session: nox.Session) -> None:
    """The core's own tests, with no plugin installed (and no analytics extra: its tests run
    in the ``analytics`` session)."""
    session.install("-e", f"{CORE}[test]", "pytest-xdist")
    _pytest(
        session,
        "stratequeue-core/tests",
        "--ignore=stratequeue-core/tests/analytics",
        parallel=True,
    )


@nox.session
def core_alone(session: nox.Session) -> None:
    """Installs the core ALONE (not editable, no plugins) and runs the README's demo."""
    session.install(CORE)
    session.run("stratequeue", "--version", env=ENV)
    session.run("stratequeue", "plugins", env=ENV)
    session.run(
        "stratequeue",
        "--strategy",
        "examples/strategies/sma.py",
        "--symbols",
        "AAPL",
        "--data-source",
        "demo",
        "--granularity",
        "1s",
        "--duration",
        "0.25",
        "--lookback",
        "40",
        "--db",
        f"{session.create_tmp()}/demo.sqlite",
        env=ENV,
    )


def _plugin(session: nox.Session, name: str) -> None:
    session.install("-e", CORE, "-e", f"{PLUGINS[name]}[test]")
    _pytest(session, f"{PLUGINS[name][2:]}/tests")


@nox.session
def alpaca(session: nox.Session) -> None:
    """stratequeue-alpaca alone: what `pip install "stratequeue[trading]"` installs."""
    _plugin(session, "alpaca")


@nox.session
def polygon(session: nox.Session) -> None:
    _plugin(session, "polygon")


@nox.session
def cmc(session: nox.Session) -> None:
    _plugin(session, "cmc")


@nox.session
def ib(session: nox.Session) -> None:
    """stratequeue-ib against the fake TWS: what `pip install "stratequeue[ib]"` installs."""
    _plugin(session, "ib")


@nox.session
def schwab(session: nox.Session) -> None:
    """stratequeue-schwab against the fake Schwab (schwab-py pointed at it)."""
    _plugin(session, "schwab")


@nox.session
def coinbase(session: nox.Session) -> None:
    """stratequeue-coinbase against the fake Coinbase: what `pip install "stratequeue[coinbase]"`
    installs."""
    _plugin(session, "coinbase")


@nox.session
def coinbase_sdk(session: nox.Session) -> None:
    """The official SDK coinbase-advanced-py against the fake Coinbase, in a virtualenv of its
    own: it pins websockets<14, which the workspace (the Polygon client) cannot share."""
    session.install("-e", CORE, "-e", f"{PLUGINS['coinbase']}[test]")
    sdk = Path(session.create_tmp()) / "coinbase-sdk"
    session.run("uv", "venv", "-q", "--allow-existing", str(sdk), external=True)
    session.run(
        "uv", "pip", "install", "-q", "-p", str(sdk), "coinbase-advanced-py==1.8.4", external=True
    )
    _pytest(
        session,
        "stratequeue-coinbase/tests/test_official_sdk.py",
        env={**ENV, "COINBASE_SDK_PYTHON": str(sdk / "bin" / "python")},
    )


@nox.session
def ray(session: nox.Session) -> None:
    """The executors with Ray installed (`pip install "stratequeue[ray]"`): replays equal to
    inline, the isolation tests and a SIGKILLed actor, on a local Ray instance of 2 CPUs."""
    session.install("-e", f"{CORE}[test]", "-e", ".[ray]")
    _pytest(
        session,
        "stratequeue-core/tests/test_executors.py",
        "stratequeue-core/tests/test_portfolio_isolation.py",
        "-k",
        "ray",
    )


@nox.session
def integration(session: nox.Session) -> None:
    """Cross-package tests: every distribution installed, third-party plugin discovery, CLI runs."""
    session.install(
        "-e",
        f"{CORE}[test]",
        *[f"-e{p}[test]" for p in PLUGINS.values()],
        "-e",
        ".",
        "pytest-xdist",
    )
    _pytest(session, "tests", parallel=True, workers=XDIST_WAITING)


@nox.session
def analytics(session: nox.Session) -> None:
    """``stratequeue[analytics]`` (scipy, TA-Lib): the TA-Lib example strategy replays exactly as
    Backtest.run, and the report's returns distribution and probabilistic Sharpe ratio."""
    session.install("-e", f"{CORE}[test]", "-e", ".[analytics]", "pytest-xdist")
    _pytest(session, "stratequeue-core/tests/analytics", parallel=True)


@nox.session
def example_plugin(session: nox.Session) -> None:
    """The plugin the documentation's guide builds (examples/stratequeue-toy),
    installed for real and tested with its own tests, the broker conformance kit among them."""
    session.install("-e", CORE, "-e", f"{EXAMPLE_PLUGIN}[test]")
    _pytest(session, f"{EXAMPLE_PLUGIN[2:]}/tests")


@nox.session
def docs(session: nox.Session) -> None:
    """The documentation site (docs/, mkdocs.yml): ``mkdocs build --strict``, so a broken link,
    a missing reference or a docstring that does not render fails the build."""
    session.install(
        "mkdocs-material>=9.5",
        "mkdocstrings[python]>=0.26",
        "mkdocs-click>=0.8",
        "ruff>=0.6",  # formats the API pages' signatures
        "-e",
        CORE,
        *[f"-e{p}" for p in PLUGINS.values()],
    )
    session.run(
        "mkdocs",
        "build",
        "--strict",
        "--site-dir",
        str(Path(session.create_tmp()) / "site"),
        # the CLI reference lists the core's commands, not those of whatever plugin is installed
        env={"STRATEQUEUE_LOAD_PLUGINS": "", "NO_MKDOCS_2_WARNING": "1"},
    )
