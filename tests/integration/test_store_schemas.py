"""Each projection store creates its own tables, whatever else the process has imported.

The stores' tables once shared one metadata, so a store's ``create_schema()`` made another
store's tables only if that store's module had been imported first (a test imported modules for
that side effect alone), and made every imported store's tables besides its own. Here each
store runs in a fresh interpreter on a fresh SQLite file, importing only its own module, or
every store's module first: either way it must make exactly its tables and the log positions.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import inspect

from hub.storage.engine import make_engine

POSITIONS = "projection_positions"

STORES = {
    "alerts": (
        "from hub.alerts.store import MissedAppointmentStore as Store",
        {
            "alert_people",
            "alert_team",
            "alert_bookings",
            "alerts",
            "alert_recipients",
            "alert_changes",
            POSITIONS,
        },
    ),
    "team": (
        "from hub.team.store import TeamStore as Store",
        {"taf_items", "taf_item_refs", POSITIONS},
    ),
    "identity": (
        "from hub.identity.store import IdentityStore as Store",
        {
            "identity_links",
            "identity_demographics",
            "identity_reviews",
            "family_members",
            POSITIONS,
        },
    ),
    "sharing": (
        "from hub.sharing.store import SharingStore as Store",
        {"sharing_facts", "sharing_facts_written", "disclosures", POSITIONS},
    ),
    "disclosures": (
        "from hub.sharing.store import DisclosureLog, SharingStore\n"
        "Store = lambda engine: DisclosureLog(SharingStore(engine))",
        {"sharing_facts", "sharing_facts_written", "disclosures", POSITIONS},
    ),
}


EVERY_STORE = (
    "import hub.alerts.store, hub.identity.store, hub.sharing.store, hub.team.store\n"
    "import hub.subscriptions.partner_topics\n"
)


@pytest.mark.parametrize("others_first", [False, True], ids=["alone", "others-imported"])
@pytest.mark.parametrize("store", sorted(STORES))
def test_a_store_creates_its_own_tables_in_a_fresh_interpreter(
    store: str, others_first: bool, tmp_path: Path
) -> None:
    imports, expected = STORES[store]
    url = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    script = (
        "import sys\n"
        f"{EVERY_STORE if others_first else ''}"
        f"{imports}\n"
        "from hub.storage.engine import make_engine\n"
        "Store(make_engine(sys.argv[1])).create_schema()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, url], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    engine = make_engine(url)
    try:
        assert set(inspect(engine).get_table_names()) == expected
    finally:
        engine.dispose()
