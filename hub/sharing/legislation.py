"""The legislation and statutory guidance a flow of the agreement may cite, and where each holds.

England and Wales share one legal system but not one law of children's services: since April
2016 Wales has the Social Services and Well-being (Wales) Act 2014 where England has Part 3 of
the Children Act 1989, and each nation has its own safeguarding guidance (England's *Working
Together to Safeguard Children 2023*, Wales's *Wales Safeguarding Procedures* 2019). A flow
between Welsh organisations that rests on England's guidance is a mistake an information
governance lead should hear of before the hub runs on it, not in an audit; so the agreement
names each citation by a code from :data:`CITATIONS`, the table says in which nation it holds,
and :func:`citation_problems` refuses a citation that does not hold where the flow's parties
are (ADR 0033).

The table is the hub's, not a deployment's: where a law applies is a fact, not a setting. Each
entry says whether its extent was checked against a published source (``verified``) or rests
on the project's reading (see docs/wales.md for the sources).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Final

from hub.vocabulary import Jurisdiction

BOTH: Final = frozenset({Jurisdiction.ENGLAND, Jurisdiction.WALES})
ENGLAND_ONLY: Final = frozenset({Jurisdiction.ENGLAND})
WALES_ONLY: Final = frozenset({Jurisdiction.WALES})


@dataclass(frozen=True)
class Citation:
    """One provision or document a flow may rest on, and the nations where it holds."""

    code: str
    title: str
    applies_in: frozenset[Jurisdiction]
    guidance: bool = False  # statutory guidance or procedures rather than an Act
    verified: bool = False  # its extent checked against a published source (docs/wales.md)


CITATIONS: Final[dict[str, Citation]] = {
    c.code: c
    for c in (
        Citation("uk-gdpr-6-1-e", "UK GDPR Art 6(1)(e): public task", BOTH, verified=True),
        Citation("uk-gdpr-6-1-a", "UK GDPR Art 6(1)(a): consent", BOTH, verified=True),
        Citation(
            "uk-gdpr-9-2-h", "UK GDPR Art 9(2)(h): health or social care", BOTH, verified=True
        ),
        Citation(
            "uk-gdpr-9-2-j",
            "UK GDPR Art 9(2)(j): archiving, scientific or historical research, statistics",
            BOTH,
        ),
        Citation(
            "dpa-2018-sch1-para4", "Data Protection Act 2018 Sch 1 para 4: research etc.", BOTH
        ),
        Citation(
            "dpa-2018-sch1-para18",
            "Data Protection Act 2018 Sch 1 para 18: safeguarding of children and individuals "
            "at risk",
            BOTH,
        ),
        Citation(
            "ca-1989-s47",
            "Children Act 1989 s.47: local authority's duty to investigate",
            BOTH,
        ),
        Citation(
            "ca-1989-part3",
            "Children Act 1989 Part 3: local authority support for children and families",
            ENGLAND_ONLY,
            verified=True,
        ),
        Citation(
            "ca-2004-s10",
            "Children Act 2004 s.10: co-operation to improve well-being (England)",
            ENGLAND_ONLY,
        ),
        Citation(
            "ca-2004-s11",
            "Children Act 2004 s.11: arrangements to safeguard and promote welfare (England)",
            ENGLAND_ONLY,
        ),
        Citation(
            "ca-2004-s25",
            "Children Act 2004 s.25: co-operation to improve well-being (Wales)",
            WALES_ONLY,
            verified=True,
        ),
        Citation(
            "ca-2004-s28",
            "Children Act 2004 s.28: arrangements to safeguard and promote welfare (Wales)",
            WALES_ONLY,
            verified=True,
        ),
        Citation(
            "working-together-2023",
            "Working Together to Safeguard Children 2023 (statutory guidance, England)",
            ENGLAND_ONLY,
            guidance=True,
            verified=True,
        ),
        Citation(
            "sswba-2014-s130",
            "Social Services and Well-being (Wales) Act 2014 s.130: duty to report children "
            "at risk",
            WALES_ONLY,
            verified=True,
        ),
        Citation(
            "sswba-2014-s162",
            "Social Services and Well-being (Wales) Act 2014 s.162: arrangements to promote "
            "co-operation with relevant partners",
            WALES_ONLY,
            verified=True,
        ),
        Citation(
            "sswba-2014-s163",
            "Social Services and Well-being (Wales) Act 2014 s.163: co-operation (Part 9)",
            WALES_ONLY,
        ),
        Citation(
            "sswba-2014-s164",
            "Social Services and Well-being (Wales) Act 2014 s.164: duty to co-operate and "
            "provide information in the exercise of social services functions",
            WALES_ONLY,
        ),
        Citation(
            "sswba-2014-part6",
            "Social Services and Well-being (Wales) Act 2014 Part 6: looked after and "
            "accommodated children",
            WALES_ONLY,
            verified=True,
        ),
        Citation(
            "wales-safeguarding-procedures-2019",
            "Wales Safeguarding Procedures (2019)",
            WALES_ONLY,
            guidance=True,
            verified=True,
        ),
    )
}


def citation_problems(
    flow: str, cited: Collection[str], between: Collection[Jurisdiction]
) -> list[str]:
    """Why ``flow``'s citations do not fit its parties' jurisdictions; empty when they do.

    A citation must be known, and must hold in every nation the flow's parties are in when
    they are all in one (a flow between Welsh organisations cites no English-only provision,
    and the reverse). A cross-border flow may cite either nation's law, each party sharing
    under its own.
    """
    problems: list[str] = []
    nations = frozenset(between)
    for code in cited:
        citation = CITATIONS.get(code)
        if citation is None:
            problems.append(
                f"flow {flow!r} cites {code!r}, which the hub does not know; "
                f"known: {', '.join(sorted(CITATIONS))}"
            )
        elif len(nations) == 1 and not nations <= citation.applies_in:
            (nation,) = nations
            holds = " and ".join(sorted(n.title() for n in citation.applies_in))
            problems.append(
                f"flow {flow!r} is between {nation.title()} organisations but cites {code!r} "
                f"({citation.title}), which holds in {holds} only"
            )
    return problems
