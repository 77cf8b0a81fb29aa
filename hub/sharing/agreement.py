"""The data-sharing agreement: who may receive which data, for what, on which lawful basis.

It is configuration, not code: a versioned TOML file (``config/sharing/agreement.toml``) that the
partners' information governance leads sign off. Every decision records the agreement version
it was taken under, so an auditor can tell which text applied to a disclosure.
"""

from __future__ import annotations

import tomllib
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Final

from pydantic import Field, ValidationError, model_validator

from hub.payloads import FrozenModel
from hub.sharing.legislation import citation_problems
from hub.vocabulary import DataCategory, Jurisdiction, LawfulBasis, PractitionerRole, Purpose

DEFAULT_AGREEMENT: Final = (
    Path(__file__).resolve().parents[2] / "config" / "sharing" / "agreement.toml"
)


class OrganisationKind(StrEnum):
    NHS = "NHS"
    LOCAL_AUTHORITY = "LOCAL_AUTHORITY"
    VOLUNTARY = "VOLUNTARY"
    EVALUATOR = "EVALUATOR"  # an independent evaluation (IPC, Cordis Bright, Ecorys): no care


# Roles that read through the hub but are not in a team around the family.
GOVERNANCE_ROLES: Final = frozenset({"DESIGNATED_SAFEGUARDING_LEAD", "CALDICOTT_GUARDIAN"})
# Who may erase a person from the hub (ADR 0009): the data protection officer or the Caldicott
# guardian of a statutory partner.
ERASURE_ROLES: Final = frozenset({"DATA_PROTECTION_OFFICER", "CALDICOTT_GUARDIAN"})
# Who reads the programme's figures (issue 20, ADR 0031): aggregates only, never a person.
MONITORING_ROLES: Final = frozenset({"PROGRAMME_MANAGER"})
# Who receives an evaluation's pseudonymised extract, under a SERVICE_EVALUATION flow.
EVALUATION_ROLES: Final = frozenset({"EVALUATOR"})
KNOWN_ROLES: Final = frozenset(
    {
        *(role.value for role in PractitionerRole),
        *GOVERNANCE_ROLES,
        *ERASURE_ROLES,
        *MONITORING_ROLES,
        *EVALUATION_ROLES,
        "PARTNER_SYSTEM",
        # Works the error queue of the organisation's own sources (ADR 0030); reads no case.
        "INTEGRATION_ENGINEER",
    }
)


class ChangeKind(StrEnum):
    """The kinds of change to who may see what (ADR 0019)."""

    CONSENT_RECORDED = "CONSENT_RECORDED"
    CONSENT_WITHDRAWN = "CONSENT_WITHDRAWN"
    OVERRIDE_STARTED = "OVERRIDE_STARTED"
    OVERRIDE_ENDED = "OVERRIDE_ENDED"
    IDENTITY_LINK_CONFIRMED = "IDENTITY_LINK_CONFIRMED"


class OwnAccess(StrEnum):
    """What a change that widens the actor's own organisation's access gets."""

    DENY = "DENY"
    REVIEW = "REVIEW"


class ChangeRule(FrozenModel):
    """Who may make one kind of change: organisation kinds x roles, and on what conditions."""

    name: str
    change: ChangeKind
    organisation_kinds: tuple[OrganisationKind, ...] = Field(min_length=1)
    roles: tuple[str, ...] = Field(min_length=1)
    involved: bool = Field(
        default=True,
        description="The actor's organisation must hold a record about the person or have a "
        "practitioner assigned to them.",
    )
    own_organisation: OwnAccess = Field(
        default=OwnAccess.DENY,
        description="A consent or override naming the actor's own organisation: refused, or "
        "held for review.",
    )
    recipient_kinds: tuple[OrganisationKind, ...] = Field(
        default=(),
        description="Whom a consent or override may name, by kind; empty: any party.",
    )

    @model_validator(mode="after")
    def _known_roles(self) -> ChangeRule:
        unknown = set(self.roles) - KNOWN_ROLES
        if unknown:
            raise ValueError(f"change rule {self.name!r}: unknown roles {sorted(unknown)}")
        return self


class Organisation(FrozenModel):
    name: str
    kind: OrganisationKind
    safeguarding_lead: str = Field(
        min_length=1,
        description="User id of the designated safeguarding lead or Caldicott guardian, who is "
        "told of every safeguarding override recorded by the organisation.",
    )
    jurisdiction: Jurisdiction = Field(
        default=Jurisdiction.ENGLAND,
        description="The nation whose law the organisation works under; England when omitted, "
        "as every agreement before Wales joined was English (ADR 0033).",
    )


class FlowScope(StrEnum):
    """Between whom a flow applies: organisations of one nation, or across the border."""

    ENGLAND = "ENGLAND"
    WALES = "WALES"
    CROSS_BORDER = "CROSS_BORDER"


class WaspiDocumentType(StrEnum):
    """The WASPI templates a Welsh flow is documented in (Wales Accord on the Sharing of
    Personal Information): regular and reciprocal sharing, a one-way disclosure, joint
    controllers (UK GDPR Art 26)."""

    ISP = "ISP"  # Information Sharing Protocol
    DDA = "DDA"  # Data Disclosure Agreement
    JCA = "JCA"  # Joint Controller Agreement


class WaspiDocument(FrozenModel):
    """The signed WASPI document a flow rests on, and when its partners must review it."""

    type: WaspiDocumentType
    reference: str = Field(min_length=1, description="The document's title or reference.")
    version: str = Field(min_length=1)
    review_date: date


class Flow(FrozenModel):
    """One permitted flow: recipients (by kind or code) x roles x categories x purposes."""

    name: str
    recipient_kinds: tuple[OrganisationKind, ...] = ()
    recipient_organisations: tuple[str, ...] = ()
    roles: tuple[str, ...] = Field(default=(), description="Empty: any role.")
    categories: tuple[DataCategory, ...] = Field(min_length=1)
    purposes: tuple[Purpose, ...] = Field(min_length=1)
    basis: LawfulBasis
    review: bool = Field(
        default=False, description="Permitted only after a person reviews the request."
    )
    between: FlowScope | None = Field(
        default=None,
        description="The flow applies only when the record's controller and the recipient are "
        "both organisations of this nation (or, CROSS_BORDER, of either); omitted: whatever "
        "its parties are, refused when they span both nations.",
    )
    legislation: tuple[str, ...] = Field(
        default=(),
        description="The legislative powers and statutory guidance the flow rests on, by code "
        "(hub.sharing.legislation.CITATIONS); each must hold where the flow's parties are.",
    )
    waspi: WaspiDocument | None = Field(
        default=None, description="The WASPI document of a flow with a Welsh party."
    )

    @model_validator(mode="after")
    def _names_recipients(self) -> Flow:
        if not self.recipient_kinds and not self.recipient_organisations:
            raise ValueError(f"flow {self.name!r} names no recipient kinds or organisations")
        if self.basis is LawfulBasis.CONTROLLER:
            raise ValueError(f"flow {self.name!r}: CONTROLLER is implied, not configured")
        unknown = set(self.roles) - KNOWN_ROLES
        if unknown:
            raise ValueError(f"flow {self.name!r}: unknown roles {sorted(unknown)}")
        return self


class DisclosureControl(FrozenModel):
    """How figures are made safe to publish (ADR 0031, docs/programme-monitoring.md), as UK
    official statistics do it: a count from 1 to ``threshold - 1`` is suppressed (and 0 too
    with ``suppress_zeros``), shown as ``symbol``; then more cells, so no published total gives
    a suppressed one away; a rate or average is shown only on ``min_denominator`` or more."""

    threshold: int = Field(default=5, ge=2, description="Counts below this are suppressed.")
    suppress_zeros: bool = False
    symbol: str = Field(default="c", min_length=1, max_length=8, description='"c" or "<5".')
    min_denominator: int = Field(
        default=10, ge=1, description="A rate or average needs this many in its denominator."
    )

    @model_validator(mode="after")
    def _denominator_not_below_threshold(self) -> DisclosureControl:
        if self.min_denominator < self.threshold:
            raise ValueError(
                f"disclosure_control: min_denominator {self.min_denominator} is below the "
                f"threshold {self.threshold}: a rate would show a suppressed count"
            )
        return self


class Agreement(FrozenModel):
    version: str = Field(min_length=1)
    title: str
    organisations: dict[str, Organisation]
    flows: tuple[Flow, ...]
    change_rules: tuple[ChangeRule, ...] = Field(
        default=(), description="Who may change sharing (ADR 0019); none: nobody may."
    )
    disclosure_control: DisclosureControl = Field(
        default_factory=DisclosureControl,
        description="Statistical disclosure control of published figures (ADR 0031).",
    )

    @model_validator(mode="after")
    def _known_organisations(self) -> Agreement:
        for flow in self.flows:
            unknown = set(flow.recipient_organisations) - set(self.organisations)
            if unknown:
                raise ValueError(f"flow {flow.name!r} names unknown organisations {unknown}")
        problems = [p for flow in self.flows for p in self._jurisdiction_problems(flow)]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def parties(self, flow: Flow) -> tuple[frozenset[str], frozenset[str]]:
        """The codes of the organisations ``flow`` can connect: (controllers, recipients).

        A flow takes records of any party (narrowed by ``between``) to the recipients it names
        by kind or code (narrowed the same way)."""
        scope = _scope_nations(flow.between)
        controllers = frozenset(
            code
            for code, organisation in self.organisations.items()
            if scope is None or organisation.jurisdiction in scope
        )
        recipients = frozenset(
            code
            for code in controllers
            if self.organisations[code].kind in flow.recipient_kinds
            or code in flow.recipient_organisations
        )
        return controllers, recipients

    def jurisdictions(self, flow: Flow) -> frozenset[Jurisdiction]:
        """The nations of the organisations ``flow`` can connect."""
        controllers, _ = self.parties(flow)
        return frozenset(self.organisations[code].jurisdiction for code in controllers)

    def _jurisdiction_problems(self, flow: Flow) -> list[str]:
        nations = self.jurisdictions(flow)
        _, recipients = self.parties(flow)
        if flow.between is None and len(nations) > 1:
            return [
                f"flow {flow.name!r} connects English and Welsh organisations: say "
                'between = "ENGLAND", "WALES" or "CROSS_BORDER"'
            ]
        if flow.between in (FlowScope.ENGLAND, FlowScope.WALES) and not recipients:
            return [f"flow {flow.name!r} is between {flow.between} organisations but names none"]
        problems = citation_problems(flow.name, flow.legislation, nations)
        if Jurisdiction.WALES in nations:
            if not flow.legislation:
                problems.append(
                    f"flow {flow.name!r} has Welsh parties but cites no legislation: name its "
                    "legislative powers (e.g. sswba-2014-s162, ca-2004-s28)"
                )
            if flow.waspi is None:
                problems.append(
                    f"flow {flow.name!r} has Welsh parties but names no WASPI document "
                    "(waspi = {type, reference, version, review_date})"
                )
        return problems

    def overdue_reviews(self, today: date) -> list[str]:
        """One line per flow whose WASPI document's review date has passed; the hub still runs
        on it (the partners signed it) but says so at start and in ``/health``."""
        return [
            f"flow {flow.name!r}: {flow.waspi.type} {flow.waspi.reference!r} version "
            f"{flow.waspi.version} was due for review on {flow.waspi.review_date.isoformat()}"
            for flow in self.flows
            if flow.waspi is not None and flow.waspi.review_date < today
        ]

    def applies_between(self, flow: Flow, controller: str, recipient: str) -> bool:
        """Whether ``flow``'s ``between`` admits a record of ``controller`` reaching
        ``recipient``; a flow without one admits any pair."""
        scope = _scope_nations(flow.between)
        if scope is None:
            return True
        held, reading = self.organisations.get(controller), self.organisations.get(recipient)
        return (
            held is not None
            and reading is not None
            and held.jurisdiction in scope
            and reading.jurisdiction in scope
        )

    def is_statutory(self, organisation_code: str) -> bool:
        """A party to the agreement that is an NHS body or a local authority.

        Statutory partners alone record safeguarding overrides, decide identity reviews and
        erase a person; an organisation outside the agreement is never one.
        """
        organisation = self.organisations.get(organisation_code)
        return organisation is not None and organisation.kind in (
            OrganisationKind.NHS,
            OrganisationKind.LOCAL_AUTHORITY,
        )


def _scope_nations(scope: FlowScope | None) -> frozenset[Jurisdiction] | None:
    """The nations a flow's ``between`` admits; None: no narrowing."""
    if scope is None or scope is FlowScope.CROSS_BORDER:
        return None
    return frozenset({Jurisdiction(scope.value)})


class AgreementError(ValueError):
    pass


def load_agreement(path: Path = DEFAULT_AGREEMENT) -> Agreement:
    """Read and validate an agreement file; errors name the file and the bad field."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise AgreementError(f"{path}: {error}") from error
    try:
        return Agreement.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()
        )
        raise AgreementError(f"{path}: {problems}") from error
