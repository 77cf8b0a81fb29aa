"""What each jurisdiction calls the shared plans and registers, and under which law (ADR 0032).

The projections read one meaning — :class:`~hub.vocabulary.PlanType` — whichever nation a fact
comes from, so the team around a family in Newport is built exactly as one in Salford. What a
source calls the fact, and the statute it is under, travel with the event (``local_name``,
``statute`` on :class:`~hub.payloads.PlanStarted` / :class:`~hub.payloads.PlanEnded`) so nothing a
Welsh practitioner reads is renamed into English law. :func:`plan_terms` fills them for a
connector that names only the jurisdiction.

The parenting-capacity factors of the Welsh Children Receiving Care and Support (CRCS) census
are facts about a parent's health, substance use or abuse at home: each is classified here as
the sensitive data category the sharing policy gates it by (special-category data under UK
GDPR Art. 9 where it is health data), so a council's mapping cannot file a parent's mental
ill-health as a routine plan detail. Sources: ``tests/golden/connectors/tabular/README.md``.
"""

from __future__ import annotations

from typing import Final, NamedTuple

from hub.vocabulary import DataCategory, Jurisdiction, LawfulBasis, PlanType, Sensitivity


class PlanTerms(NamedTuple):
    """A plan's name when it starts and ends, and the law it is under, in one jurisdiction."""

    started: str
    ended: str
    statute: str


SSWBA: Final = "Social Services and Well-being (Wales) Act 2014"

PLAN_TERMS: Final[dict[tuple[Jurisdiction, PlanType], PlanTerms]] = {
    (Jurisdiction.WALES, PlanType.CHILD_PROTECTION): PlanTerms(
        "registration on the Child Protection Register",
        "de-registration from the Child Protection Register",
        "Wales Safeguarding Procedures (2019); Children Act 1989, s.47",
    ),
    (Jurisdiction.WALES, PlanType.CHILD_IN_NEED): PlanTerms(
        "care and support plan", "care and support plan ended", f"{SSWBA}, s.54"
    ),
    (Jurisdiction.WALES, PlanType.LOOKED_AFTER): PlanTerms(
        "looked after", "ceased to be looked after", f"{SSWBA}, Part 6 (s.74)"
    ),
    (Jurisdiction.ENGLAND, PlanType.CHILD_PROTECTION): PlanTerms(
        "child protection plan", "child protection plan ended", "Children Act 1989, s.47"
    ),
    (Jurisdiction.ENGLAND, PlanType.CHILD_IN_NEED): PlanTerms(
        "child in need plan", "child in need plan ended", "Children Act 1989, s.17"
    ),
    (Jurisdiction.ENGLAND, PlanType.LOOKED_AFTER): PlanTerms(
        "looked after", "ceased to be looked after", "Children Act 1989, s.22"
    ),
}


def plan_terms(jurisdiction: Jurisdiction, plan_type: PlanType) -> PlanTerms | None:
    """What ``jurisdiction`` calls ``plan_type`` and its statute; None where it has no term
    (early help is not a statutory plan in either)."""
    return PLAN_TERMS.get((jurisdiction, plan_type))


class FactorClass(NamedTuple):
    """How a parenting-capacity factor is classified for the sharing policy, and the lawful
    basis and Art. 9 condition a flow of it rests on."""

    category: DataCategory
    sensitivity: Sensitivity
    lawful_basis: LawfulBasis
    condition: str


SCHEDULE_1_18: Final = "UK GDPR Art. 9(2)(g); DPA 2018 Sch. 1 para. 18 (safeguarding of children)"


def _factor(category: DataCategory) -> FactorClass:
    return FactorClass(
        category, Sensitivity.SPECIAL_CATEGORY, LawfulBasis.SAFEGUARDING, SCHEDULE_1_18
    )


# CRCS parenting-capacity factors (the census's names, in lower case) -> how the policy gates
# them. The contract has no category for a parent's physical health or learning disability,
# and a new DataCategory symbol reads as DEMOGRAPHICS (the enum's default) in an old reader,
# which would widen who sees it: those two are SAFEGUARDING, the narrowest fit (ADR 0032).
PARENTING_CAPACITY_FACTORS: Final[dict[str, FactorClass]] = {
    "domestic abuse": _factor(DataCategory.DOMESTIC_ABUSE),
    "parental substance or alcohol misuse": _factor(DataCategory.SUBSTANCE_USE),
    "parental mental ill health": _factor(DataCategory.MENTAL_HEALTH),
    "parental learning disability": _factor(DataCategory.SAFEGUARDING),
    "parental physical ill health": _factor(DataCategory.SAFEGUARDING),
}
