"""The hub refuses to start, naming the file and the code, when its configuration names an
organisation that is no party to the agreement (issue 16, point 4).

Each command runs as a real process; it exits before it would need Kafka, so none is given.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hub.auth.store import ClientStore
from hub.storage.engine import make_engine

COMMANDS = [["api"], ["worker"], ["mllp"], ["run"], ["agreement", "check"]]
OLD_PARTNER = (
    'organisation_code = "HOMESTART-MCR"\nconnector = "voluntary-activity"\n'
    '[config]\nsystem = "hs"\norganisation_code = "HOMESTART-MCR"\nprogramme = "SF"\n'
)


def hub(command: list[str], state: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    base.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    return subprocess.run(
        [sys.executable, "-m", "hub", *command],
        env={**base, "HUB_STATE_DIR": str(state), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_a_partner_feed_outside_the_agreement_stops_every_start(
    command: list[str], tmp_path: Path
) -> None:
    partners = tmp_path / "partners"
    partners.mkdir()
    (partners / "homestart.toml").write_text(OLD_PARTNER)
    done = hub(command, tmp_path / "state", HUB_PARTNERS_DIR=str(partners))
    assert done.returncode != 0
    output = done.stdout + done.stderr
    assert f"{partners / 'homestart.toml'}: organisation_code 'HOMESTART-MCR'" in output
    assert "not a party to the agreement" in output
    assert not (tmp_path / "state" / "kafka").exists()  # refused before starting a broker


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_a_registered_client_outside_the_agreement_stops_every_start(
    command: list[str], tmp_path: Path
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    engine = make_engine(f"sqlite:///{state / 'projections.sqlite3'}")
    client = ClientStore(engine).register("RX1", "COMMUNITY_MIDWIFE", "mw-9").client
    engine.dispose()
    done = hub(command, state)
    assert done.returncode != 0
    assert f"registered client {client.client_id}: organisation 'RX1'" in done.stdout + done.stderr


def test_the_shipped_configuration_passes_the_check(tmp_path: Path) -> None:
    done = hub(["agreement", "check"], tmp_path / "state")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("ok ")
