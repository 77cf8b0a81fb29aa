"""Ofsted Annex A, list 3 (referrals in the last six months) → referral and allocated worker.

Annex A lists are the spreadsheets a council prepares for an Ofsted inspection (ILACS); list 3
has one row per referral: ``Child Unique ID``, ``Date of referral``, ``Referral Source``,
``Referral NFA?``, ``Allocated Team`` and ``Allocated Worker``. Each row gives
``REFERRAL_RECEIVED`` and, when a worker is named, ``PRACTITIONER_ASSIGNED`` (social worker).
Export the list sheet as CSV. Column names: Ofsted "Annex A" data template (the canonical names
are in ``tests/data/SOURCES.md``).
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
from hub.payloads import PractitionerAssigned, ReferralReceived
from hub.vocabulary import AssignmentScope, DataCategory, PractitionerRole, Sensitivity

REFERRALS: Final = Classification(DataCategory.SOCIAL_CARE_PLANS, Sensitivity.RESTRICTED)
ALLOCATION: Final = Classification(DataCategory.PRACTITIONER_ALLOCATION, Sensitivity.ROUTINE)
CHILD: Final = "Child Unique ID"
REFERRED: Final = "Date of referral"


class AnnexAReferrals(Connector[ConnectorConfig]):
    name = "annex-a-referrals"
    summary = "Ofsted Annex A list 3 (CSV): referrals and the allocated social worker"
    config_model = ConnectorConfig
    example_config: ClassVar = {"system": "council-annex-a", "organisation_code": "E08000006"}
    key_columns = (CHILD, REFERRED)
    required_columns = ("Referral Source", "Allocated Team", "Allocated Worker")

    def map(
        self, record: Record, config: ConnectorConfig, recorded_at: datetime
    ) -> list[CaseEvent]:
        fields = Fields(record)
        child = fields.text(CHILD)
        referred = fields.date(REFERRED)
        fields.check()
        assert child
        assert referred
        emit = EventBuilder(
            config, record, (local_identifier(config, "child", child),), recorded_at
        )
        referral = ReferralReceived(
            referral_id=f"{child}:{referred.isoformat()}",
            service="childrens-social-care",
            referral_source=fields.text("Referral Source", required=False),
        )
        events = [
            emit(EventType.REFERRAL_RECEIVED, referral, occurred=referred, classified=REFERRALS)
        ]
        worker = fields.text("Allocated Worker", required=False)
        if worker is not None:
            team = fields.text("Allocated Team", required=False)
            allocated = PractitionerAssigned(
                practitioner_id=worker,
                name=worker,
                role=PractitionerRole.SOCIAL_WORKER,
                organisation_code=config.organisation_code,
                contact=team,
                scope=AssignmentScope.PERSON,
            )
            events.append(
                emit(
                    EventType.PRACTITIONER_ASSIGNED,
                    allocated,
                    occurred=referred,
                    classified=ALLOCATION,
                )
            )
        return events
