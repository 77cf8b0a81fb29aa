"""SSDA903 (children looked after return), episodes table → looked-after periods.

One row is an *episode*: a period of care, or a change of placement or legal status within one.
``RNE`` = ``S`` starts a period of care (``PLAN_STARTED`` LOOKED_AFTER, with the legal status
``LS`` as its category); a ``DEC`` with a reason ``REC`` other than ``X1`` ("episode ceases, new
episode starts") ends the period (``PLAN_ENDED``, with the reason), and a reason that says where
care went (adopted, home to the parents, special guardianship) is ``PERMANENCE_RECORDED`` too.
Other rows change placement only and carry no event the team around the family needs. A child
is in at most one period of care at a time, so the plan id is the child's. Field definitions:
DfE "Children looked after return 2024 to 2025: guide" (``tests/data/SOURCES.md``).
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Final

from hub.connectors.sdk import (
    Classification,
    Connector,
    ConnectorConfig,
    EventBuilder,
    Fields,
    Record,
    local_identifier,
)
from hub.events import CaseEvent, EventType
from hub.payloads import PermanenceRecorded, PlanEnded, PlanStarted
from hub.vocabulary import DataCategory, PermanenceOutcome, PlanType, Sensitivity

REASONS_NEW_EPISODE: Final = frozenset({"S", "L", "P", "T", "U", "B"})
# Where care went, by the reason the period ended (REC; DfE's codes): PERMANENCE_RECORDED.
PERMANENCE: Final = {
    "E11": PermanenceOutcome.PLACED_FOR_ADOPTION,  # adopted, application unopposed
    "E12": PermanenceOutcome.PLACED_FOR_ADOPTION,  # adopted, application opposed
    "E13": PermanenceOutcome.RETURNED_HOME,  # left care to live with parent(s) or relatives
    "E43": PermanenceOutcome.SPECIAL_GUARDIANSHIP,
    "E44": PermanenceOutcome.SPECIAL_GUARDIANSHIP,
    "E45": PermanenceOutcome.SPECIAL_GUARDIANSHIP,
    "E46": PermanenceOutcome.SPECIAL_GUARDIANSHIP,
}
SAME_PERIOD_CONTINUES: Final = "X1"
_REASONS_BY_LOWER: Final = {code.lower(): code for code in REASONS_NEW_EPISODE}
PLANS: Final = Classification(DataCategory.SOCIAL_CARE_PLANS, Sensitivity.RESTRICTED)


class SSDA903Episodes(Connector[ConnectorConfig]):
    name = "ssda903-episodes"
    summary = "SSDA903 episodes (CSV): periods of care start and end (looked-after plans)"
    config_model = ConnectorConfig
    example_config: ClassVar = {"system": "council-lac", "organisation_code": "E08000003"}
    key_columns = ("CHILD", "DECOM")
    required_columns = ("RNE", "LS", "DEC", "REC")

    def map(
        self, record: Record, config: ConnectorConfig, recorded_at: datetime
    ) -> list[CaseEvent]:
        fields = Fields(record)
        child = fields.text("CHILD")
        started = fields.date("DECOM")
        reason_new = fields.choice("RNE", _REASONS_BY_LOWER)
        legal_status = fields.text("LS")
        ended = fields.date("DEC", required=False)
        reason_ended = fields.text("REC", required=ended is not None)
        if started and ended and ended < started:
            fields.fail("DEC", f"{ended} is before DECOM {started}")
        fields.check()
        assert child
        assert started
        assert reason_new
        starts = reason_new == "S"
        ends = ended is not None and reason_ended != SAME_PERIOD_CONTINUES
        if not starts and not ends:  # most episodes: a placement change within one period
            return []
        emit = EventBuilder(
            config, record, (local_identifier(config, "child", child),), recorded_at
        )
        plan_id = f"{child}:LAC"
        events = []
        if starts:
            started_plan = PlanStarted(
                plan_id=plan_id,
                plan_type=PlanType.LOOKED_AFTER,
                started_on=started,
                category=legal_status,
            )
            events.append(
                emit(EventType.PLAN_STARTED, started_plan, occurred=started, classified=PLANS)
            )
        if ends:
            assert ended is not None
            ended_plan = PlanEnded(
                plan_id=plan_id,
                plan_type=PlanType.LOOKED_AFTER,
                ended_on=ended,
                reason=reason_ended,
            )
            events.append(emit(EventType.PLAN_ENDED, ended_plan, occurred=ended, classified=PLANS))
            outcome = PERMANENCE.get((reason_ended or "").upper())
            if outcome is not None:
                went = PermanenceRecorded(outcome=outcome, recorded_on=ended, plan_id=plan_id)
                events.append(
                    emit(EventType.PERMANENCE_RECORDED, went, occurred=ended, classified=PLANS)
                )
        return events
