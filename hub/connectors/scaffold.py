"""``hub connector new NAME``: a connector package an integration engineer can start from.

It writes a working connector (a CSV of home visits → attended / missed), a sample file, a
config example, the conformance suite and a golden test whose expected output is generated
now from the sample — so the package's tests pass from the first minute and fail when the
mapping changes. The package registers itself in the ``hub.connectors`` entry points; after
``pip install`` the hub finds it with no change to the hub.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from string import Template
from typing import Final

from hub.connectors.runtime import golden_output
from hub.connectors.sdk import Connector

NAME_PATTERN: Final = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")

CONNECTOR = Template('''"""$title: a connector for the Think Family Hub.

Reads a CSV of home visits (``visit_id``, ``nhs_number``, ``visit_start``, ``outcome``) and
publishes APPOINTMENT_ATTENDED or APPOINTMENT_MISSED. Change ``map`` to your source's columns;
``tests/`` checks it against the hub's conformance suite and the golden file.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Final
from zoneinfo import ZoneInfo

from hub.connectors.sdk import (
    Classification,
    Connector,
    ConnectorConfig,
    EventBuilder,
    Fields,
    Record,
)
from hub.events import (
    NHS_NUMBER_SYSTEM,
    Appointment,
    AppointmentAttended,
    AppointmentMissed,
    CaseEvent,
    DataCategory,
    EventType,
    PersonIdentifier,
    Sensitivity,
)
from hub.nhs_number import is_valid_nhs_number, normalise_nhs_number

VISITS: Final = Classification(DataCategory.APPOINTMENTS, Sensitivity.ROUTINE)


class ${cls}Config(ConnectorConfig):
    service_type: str = "home-visit"


class $cls(Connector[${cls}Config]):
    name = "$name"
    summary = "$title (CSV): home visits attended or missed"
    config_model = ${cls}Config
    example_config: ClassVar = {"system": "$name", "organisation_code": "CHANGE-ME"}
    key_columns = ("visit_id",)
    required_columns = ("visit_id", "nhs_number", "visit_start", "outcome")

    def map(
        self, record: Record, config: ${cls}Config, recorded_at: datetime
    ) -> list[CaseEvent]:
        fields = Fields(record)
        visit_id = fields.text("visit_id")
        nhs_number = fields.text("nhs_number")
        attended = fields.choice("outcome", {"attended": True, "missed": False})
        start = fields.text("visit_start")
        starts = None
        if nhs_number is not None and not is_valid_nhs_number(nhs_number):
            fields.fail("nhs_number", f"{nhs_number!r} is not a valid NHS number")
        if start is not None:
            try:
                starts = datetime.fromisoformat(start)
            except ValueError:
                fields.fail("visit_start", f"{start!r} is not an ISO 8601 date-time")
        fields.check()
        assert visit_id is not None
        assert nhs_number is not None
        assert starts is not None
        if starts.tzinfo is None:
            starts = starts.replace(tzinfo=ZoneInfo(config.timezone))
        person = PersonIdentifier(system=NHS_NUMBER_SYSTEM, value=normalise_nhs_number(nhs_number))
        emit = EventBuilder(config, record, (person,), recorded_at)
        visit = Appointment(appointment_id=visit_id, start=starts, service_type=config.service_type)
        if attended:
            return [emit(EventType.APPOINTMENT_ATTENDED, AppointmentAttended(appointment=visit),
                         occurred=starts, classified=VISITS)]
        return [emit(EventType.APPOINTMENT_MISSED, AppointmentMissed(appointment=visit),
                     occurred=starts, classified=VISITS)]
''')

SAMPLE = """visit_id,nhs_number,visit_start,outcome
HV-1,9434765919,2026-02-03T10:00:00,attended
HV-2,9434765919,2026-02-10T10:00:00,missed
"""

PYPROJECT = Template("""[build-system]
requires = ["setuptools>=69"]
build-backend = "setuptools.build_meta"

[project]
name = "hub-connector-$name"
version = "0.1.0"
description = "$title: a connector for the Think Family Hub"
requires-python = ">=3.11"
dependencies = ["think-family-hub"]

# How the hub finds this connector: `hub connector list` shows it once installed.
[project.entry-points."hub.connectors"]
$name = "$module:$cls"

[tool.setuptools]
packages = ["$module"]

[tool.setuptools.package-data]
$module = ["sample.csv"]
""")

CONFIG = Template("""# $name settings: hub connector run $name FILE --config THIS_FILE
system = "$name"
organisation_code = "CHANGE-ME"  # ODS / council / charity code of the organisation
timezone = "Europe/London"
service_type = "home-visit"
""")

TESTS = Template('''"""The hub's conformance suite and a golden file for $name.

After a deliberate mapping change: HUB_UPDATE_GOLDEN=1 pytest tests/, then review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from hub.connectors.conformance import ConnectorConformance
from hub.connectors.runtime import golden_output

from $module import $cls

SAMPLE = Path(__file__).resolve().parents[1] / "$module" / "sample.csv"
GOLDEN = Path(__file__).resolve().parent / "sample.expected.json"


class Test$cls(ConnectorConformance):
    connector = $cls()
    sample = SAMPLE


def test_sample_matches_the_golden_file() -> None:
    connector = $cls()
    config = connector.config(connector.example_config)
    actual = json.loads(json.dumps(golden_output(connector, config, SAMPLE)))
    if os.environ.get("HUB_UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(json.dumps(actual, indent=2) + "\\n")
    assert actual == json.loads(GOLDEN.read_text())
''')

README = Template("""# hub-connector-$name

$title: a connector for the Think Family Hub, made with `hub connector new $name`.

```console
$$ pip install ./hub-connector-$name
$$ hub connector test $name hub-connector-$name/$module/sample.csv
$$ pytest hub-connector-$name/tests
```

See the hub's `docs/connectors.md`.
""")


def scaffold(name: str, directory: Path) -> Path:
    """Write the package ``hub-connector-NAME`` under ``directory``; return its path."""
    if not NAME_PATTERN.match(name):
        raise ValueError(f"{name!r}: use lower-case words joined by hyphens, e.g. 'home-visits'")
    root = directory / f"hub-connector-{name}"
    if root.exists():
        raise FileExistsError(f"{root} exists: choose another name or directory")
    words = name.split("-")
    values = {
        "name": name,
        "module": "hub_connector_" + "_".join(words),
        "cls": "".join(word.capitalize() for word in words),
        "title": " ".join(words).capitalize(),
    }
    package = root / values["module"]
    tests = root / "tests"
    package.mkdir(parents=True)
    tests.mkdir()
    (package / "__init__.py").write_text(CONNECTOR.substitute(values))
    (package / "sample.csv").write_text(SAMPLE)
    (root / "pyproject.toml").write_text(PYPROJECT.substitute(values))
    (root / "config.example.toml").write_text(CONFIG.substitute(values))
    (root / "README.md").write_text(README.substitute(values))
    (tests / f"test_{values['module']}.py").write_text(TESTS.substitute(values))
    (tests / "sample.expected.json").write_text(json.dumps(_expected(package), indent=2) + "\n")
    return root


def _expected(package: Path) -> object:
    """The golden output of the template's sample, computed by the template's own code."""
    spec = importlib.util.spec_from_file_location(package.name, package / "__init__.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    connector = next(
        value()
        for value in vars(module).values()
        if isinstance(value, type) and issubclass(value, Connector) and value is not Connector
    )
    sample = package / "sample.csv"
    return golden_output(connector, connector.config(connector.example_config), sample)
