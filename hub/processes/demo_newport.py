"""Demo data: Newport's Baby and Me (Wales), through the hub's own connectors, so ``make run``
shows a Welsh family beside the Salford one (issue 21, docs/wales.md).

Ffion, Welsh-speaking, is referred to Baby and Me by Newport's children's services at 14 weeks
pregnant. Barnardo's Cymru's Baby and Me team records the referral, its acceptance, the NSPCC
Baby Steps group sessions she attends, a Family Group Conference and the dad's worker joining
(the ``voluntary-activity`` format, docs/voluntary-activity.md). Aneurin Bevan University Health
Board's maternity PAS (``config/sources/demo-abuhb-maternity.toml``, ODS 7A6) registers her
with her language (HL7 v2.3.1 ADT^A28, PID-15 ``WEL``) and, yesterday, records her 20-week
scan as not attended (SIU^S26, its AIP naming her community midwife, Eleri Price). The worker
turns the no-show into an alert for the midwife, who reads it in Welsh in her inbox.

Every event is what the real connectors make of the inputs (the HL7 mapping of the MLLP
listener, :func:`hub.connectors.hl7v2.listener.receive`; the voluntary-activity connector of
partner uploads): their ids are deterministic, so loading the demo again changes nothing.
"""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from hub.connectors.hl7v2.listener import receive
from hub.connectors.outcomes import Mapped
from hub.connectors.sources import SourceRegistry
from hub.connectors.voluntary.activity import VoluntaryActivity
from hub.events import CaseEvent

NEWPORT_NHS_NUMBER: Final = "9434765870"  # the NHS's published test-number range (modulus 11)
NEWPORT_PAS_NUMBER: Final = "G7A600087"  # her Aneurin Bevan PAS number (PID-3, authority 7A6)
NEWPORT_MIDWIFE: Final = ("7A6", "COMMUNITY_MIDWIFE", "MW-22")  # organisation, role, user id
NEWPORT_CLIENT_ID: Final = "demo-newport-midwife"
NEWPORT_APPOINTMENT_ID: Final = "GUHA0457"
PROGRAMME: Final = "Baby and Me"
BARNARDOS_FEED: Final = {
    "system": "barnardos-cymru-baby-and-me",
    "organisation_code": "VCS-BARNARDOS-CYMRU",
    "programme": PROGRAMME,
}
LONDON: Final = ZoneInfo("Europe/London")
BABY_STEPS_SESSIONS: Final = 7  # NSPCC Baby Steps: usually seven group sessions (the seed)


def _hl7(*segments: str) -> bytes:
    return "\r".join(segments).encode()


def _ts(moment: datetime) -> str:
    """An HL7 TS in the board's local time (its source file says Europe/London)."""
    return moment.astimezone(LONDON).strftime("%Y%m%d%H%M%S")


def abuhb_messages(today: date) -> list[bytes]:
    """What the board's PAS sends: her registration, then yesterday's no-show."""
    scan = datetime.combine(today - timedelta(days=1), time(10), tzinfo=LONDON)
    registered = scan - timedelta(weeks=6, days=2)
    pid = (
        f"PID|1||{NEWPORT_PAS_NUMBER}^^^7A6^PI~{NEWPORT_NHS_NUMBER}^^^NHS^NH||ROBERTS^Ffion^^^Mrs"
        "||19990612|F"
    )
    return [
        _hl7(
            rf"MSH|^~\&|WPAS|ABUHB|THINKFAMILY|HUB|{_ts(registered)}||ADT^A28|DEMO-NWP-A28|P|2.3.1",
            f"EVN|A28|{_ts(registered)}",
            f"{pid}|||14 Heol y Castell^^CASNEWYDD^^NP20 4AB^GBR^H||||WEL",
            "PV1|1|O|GUH-ANC||||MW-22^PRICE^Eleri^^^^^^7A6",
        ),
        _hl7(
            rf"MSH|^~\&|WPAS|ABUHB|THINKFAMILY|HUB|{_ts(scan + timedelta(hours=1))}||SIU^S26"
            "|DEMO-NWP-S26|P|2.3.1",
            f"SCH|GUH0457|{NEWPORT_APPOINTMENT_ID}|||||DNA^Did not attend"
            f"|SCAN20^20-week scan^LOCAL|30|MIN|^^30^{_ts(scan)}|||||||||||||||Noshow",
            pid,
            "RGS|1",
            f"AIS|1||SCAN20^20-week scan^LOCAL|{_ts(scan)}",
            "AIL|1||GUH-ANC^^^The Grange University Hospital^^C",
            "AIP|1||MW-22^PRICE^Eleri^^^^^^7A6|NMW",
        ),
    ]


def barnardos_activity(today: date) -> bytes:
    """The Baby and Me team's monitoring rows (CSV in the voluntary-activity format)."""
    referred = today - timedelta(weeks=6, days=3)  # at 14 weeks: yesterday's scan was at 20
    due = referred + timedelta(weeks=40 - 14)
    n, ref = NEWPORT_NHS_NUMBER, "BAM-NWP-0001"
    header = (
        "record_id,event,occurred_on,nhs_number,referral_id,pathway,expected_delivery_date,"
        "referral_source,activity,session_id,session_start,location,worker_id,"
        "sessions_attended,sessions_planned,stage,completed"
    )
    rows = [
        f"{ref},referral_received,{referred},{n},{ref},pre-birth,{due},"
        "Newport children's services,,,,,,,,,",
        f"ACC-0001,referral_accepted,{referred + timedelta(days=2)},{n},{ref},pre-birth,,,,,,,,,,,",
        f"ACT-0001,programme_activity,{referred + timedelta(days=3)},{n},{ref},,,,first_contact,"
        ",,,,,,,",
    ]
    for week in range(3):  # the Baby Steps group, weekly at a community hub in Newport
        day = referred + timedelta(days=7 * (week + 1))
        rows.append(
            f"BS-{week + 1:04},session_attended,,{n},{ref},,,,,BABYSTEPS-NWP-{day},"
            f"{day}T10:00:00,Ringland Community Hub,BAM-FSW-2,,,,"
        )
    rows += [
        f"ACT-0002,programme_activity,{referred + timedelta(days=18)},{n},{ref},,,,"
        "dads_worker,,,,,,,,",
        f"ACT-0003,programme_activity,{referred + timedelta(days=30)},{n},{ref},,,,"
        "fgc_held,,,,,,,,",
        f"PROG-0001,programme_progress,{referred + timedelta(days=22)},{n},{ref},,,,,,,,,"
        f"3,{BABY_STEPS_SESSIONS},Baby Steps,no",
    ]
    return "\n".join([header, *rows]).encode() + b"\n"


def newport_events(today: date, sources: SourceRegistry) -> list[CaseEvent]:
    """The story's events, as the connectors map its inputs; a refusal is a bug in the demo."""
    connector = VoluntaryActivity()
    config = connector.config(BARNARDOS_FEED)
    recorded = datetime.combine(today, time(), tzinfo=UTC)
    events: list[CaseEvent] = []
    stream = io.BytesIO(barnardos_activity(today))
    for record in connector.read_with(stream, "baby-and-me-monitoring.csv", config):
        events.extend(connector.map(record, config, recorded))
    for raw in abuhb_messages(today):
        outcome = receive(raw, sources).outcome
        if not isinstance(outcome, Mapped):
            raise RuntimeError(f"the Newport demo's HL7 was refused: {outcome}")
        events.extend(outcome.events)
    return events
