"""A third-party package that only declares an entry point in group `stratequeue` is found,
installed for real (into a target folder), with no change to the core."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from .conftest import stratequeue

PYPROJECT = """
[project]
name = "sq-throwaway-plugin"
version = "1.2.3"
dependencies = []
[project.entry-points.stratequeue]
throwaway = "sq_throwaway"
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"
[tool.hatch.build.targets.wheel]
packages = ["sq_throwaway"]
"""

MODULE = '''
from stratequeue import hookimpl
from stratequeue.brokers.base import BaseBroker, CredentialStatus
from stratequeue.data.base import BaseDataSource


class ThrowawayBroker(BaseBroker):
    name = "throwaway"
    display_name = "Throwaway Broker"

    @classmethod
    def credential_status(cls, env):
        return CredentialStatus(paper=bool(env.get("THROWAWAY_KEY")), live=False)

    def connect(self): return True
    def get_account_info(self): raise NotImplementedError
    def get_positions(self): return []
    def submit_order(self, order): raise NotImplementedError
    def cancel_order(self, cid): raise NotImplementedError
    def get_order(self, cid): return None
    def get_open_orders(self): return []


class ThrowawayFeed(BaseDataSource):
    name = "throwaway-feed"
    granularities = ("1m", "1h")
    def history(self, symbol, bars): return []
    def stream(self, symbols): return iter(())


@hookimpl
def register_brokers(register):
    register("throwaway", ThrowawayBroker)


@hookimpl
def register_data_sources(register):
    register("throwaway-feed", ThrowawayFeed)


@hookimpl
def register_commands(cli):
    import click

    @cli.command("throwaway-hello")
    def hello():
        """Say hello from a plugin."""
        click.echo("hello from the throwaway plugin")
'''


def _uv() -> str:
    try:
        from uv import find_uv_bin

        return find_uv_bin()
    except ImportError:
        found = shutil.which("uv")
        if not found:
            pytest.fail("uv is needed to install the throwaway plugin (pip install uv)")
        return found


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory):
    src = tmp_path_factory.mktemp("src")
    (src / "pyproject.toml").write_text(PYPROJECT)
    (src / "sq_throwaway").mkdir()
    (src / "sq_throwaway" / "__init__.py").write_text(textwrap.dedent(MODULE))
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [
            _uv(),
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--python",
            sys.executable,
            "--target",
            str(target),
            str(src),
        ],
        check=True,
    )
    return str(target)


def env_with(path: str) -> dict[str, str]:
    return {"PYTHONPATH": os.pathsep.join([path, os.environ.get("PYTHONPATH", "")])}


def test_plugins_command_lists_the_installed_plugin(plugin_path):
    out = stratequeue("plugins", env=env_with(plugin_path))
    assert out.returncode == 0, out.stderr
    assert (
        "throwaway" in out.stdout and "sq-throwaway-plugin" in out.stdout and "1.2.3" in out.stdout
    )


def test_its_broker_and_data_source_are_listed_by_the_cli(plugin_path):
    env = env_with(plugin_path)
    brokers = stratequeue("--list-brokers", env=env)
    assert "throwaway" in brokers.stdout and "paper" in brokers.stdout
    status = stratequeue("--broker-status", env={**env, "THROWAWAY_KEY": "k"})
    assert "Throwaway Broker" in status.stdout
    grans = stratequeue("--list-granularities", env=env)
    assert "throwaway-feed" in grans.stdout


def test_its_command_is_added(plugin_path):
    out = stratequeue("throwaway-hello", env=env_with(plugin_path))
    assert out.stdout.strip() == "hello from the throwaway plugin"


def test_load_plugins_variable_limits_loading(plugin_path):
    out = stratequeue(
        "--list-brokers", env={**env_with(plugin_path), "STRATEQUEUE_LOAD_PLUGINS": ""}
    )
    assert "throwaway" not in out.stdout
