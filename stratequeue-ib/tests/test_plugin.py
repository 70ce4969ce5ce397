from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import entry_points

from conftest import ib_env
from stratequeue_ib import IBBroker
from stratequeue_ib.testing import FakeTWS


def test_the_entry_point_is_installed_and_registers_the_ib_broker() -> None:
    (ep,) = [ep for ep in entry_points(group="stratequeue") if ep.name == "ib"]
    module = ep.load()
    registered: dict[str, type] = {}
    module.register_brokers(register=registered.__setitem__)
    assert registered == {"ib": IBBroker}


def test_the_plugin_host_discovers_the_ib_broker() -> None:
    from stratequeue import plugins

    plugins.reset()
    try:
        assert "ib" in plugins.registry("brokers").names()
    finally:
        plugins.reset()


def test_registering_does_not_import_ib_async() -> None:
    code = "import sys, stratequeue_ib; print('ib_async' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_broker_status_reads_ib_account() -> None:
    assert IBBroker.credential_status({}).status == "Not Configured"
    assert IBBroker.credential_status({"IB_ACCOUNT": "DU123456"}).status == "Paper Ready"
    assert IBBroker.credential_status({"IB_ACCOUNT": "U1234567"}).status == "Live Ready"


def test_broker_setup_explains_the_api_settings_and_checks_the_connection(tws: FakeTWS) -> None:
    text = IBBroker.setup_instructions()
    for words in (
        "Enable ActiveX and Socket Clients",
        "7497",
        "7496",
        "4002",
        "4001",
        "127.0.0.1",
        "Read-Only API",
    ):
        assert words in text
    assert IBBroker.validate_credentials(ib_env(tws), paper=True) == "DU123456"
    assert tws.sessions() == 0


def _cli(*args: str, env: dict[str, str]) -> str:
    code = "import sys; from stratequeue.cli import main; sys.exit(main())"
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env, "COLUMNS": "200"},
        timeout=60,
    )
    return done.stdout + done.stderr


def test_the_cli_shows_an_interactive_brokers_row_and_checks_the_connection(tws: FakeTWS) -> None:
    status = _cli("--broker-status", env=ib_env(tws))
    row = [line for line in status.splitlines() if "Interactive Brokers" in line]
    assert row and "Paper Ready" in row[0], status
    setup = _cli("--broker-setup", "ib", env=ib_env(tws))
    assert "Enable ActiveX and Socket Clients" in setup
    assert "Paper credentials work: account DU123456" in setup, setup
    listed = _cli("--list-brokers", env={})
    assert "Interactive Brokers" in listed, listed
