"""What the pure fold says a family's events come to: the answer fault tests compare with."""

from __future__ import annotations

from collections.abc import Iterable

from hub.alerts.fold import fold
from hub.alerts.state import AlertSaved, FamilyState, Rules, empty_state
from hub.events import CaseEvent


def fold_family(
    events: Iterable[CaseEvent], rules: Rules, family_key: str = ""
) -> tuple[FamilyState, list[AlertSaved]]:
    """The family's state after ``events`` in order, and the alert changes on the way."""
    state, changes = empty_state(family_key), []
    for event in events:
        state, effects = fold(state, event, rules)
        changes += [e for e in effects if isinstance(e, AlertSaved)]
    return state, changes
