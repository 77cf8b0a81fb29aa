"""The programme page's texts in Welsh: every fixed text the report can show has a name in
:data:`hub.http.web.outcomes.FIGURE_LABELS` (so the catalog check reaches it), data is shown
as it is, and the charts are drawn in the reader's language."""

from __future__ import annotations

from datetime import UTC, date, datetime

from hub.http.web.i18n import ENGLISH, WELSH, translator
from hub.http.web.outcomes import FIGURE_LABELS, figure_label
from hub.http.web.templating import render
from hub.outcomes.babies import AGES, PLACES
from hub.outcomes.charts import charts
from hub.outcomes.figures import ETHNIC_GROUPS, FUNNEL, GESTATION_BANDS, figures
from hub.outcomes.report import TOTAL, ProgrammeReport, publish
from hub.sharing.agreement import DisclosureControl
from hub.vocabulary import Characteristic
from tests.unit.test_outcomes_fold import BABY, SF, baby_events, folded, mother_year
from tests.unit.test_pages_in_welsh import request

AS_OF = date(2027, 10, 1)
# The rows' headings whose labels are data, shown as they are.
DATA = {"Quarter", "Quarter of birth", "Pathway", "Organisation", "Measure"}


RULE = DisclosureControl()  # threshold 5, "c"


def one_family(rule: DisclosureControl = RULE) -> ProgrammeReport:
    """The unit tests' family of the figures (a mother's year, her baby looked after, then home)."""
    mother = folded(mother_year())
    baby = folded(baby_events(date(2026, 9, 20), home_on=date(2026, 12, 1)), BABY)
    return publish(
        figures([mother, baby], SF, AS_OF),
        rule,
        programme=SF,
        as_of=AS_OF,
        generated_at=datetime(2027, 10, 1, tzinfo=UTC),
    )


def test_every_fixed_text_of_the_report_has_a_name_on_the_page() -> None:
    report = one_family()
    texts = {TOTAL, *FUNNEL, *PLACES, *GESTATION_BANDS, *ETHNIC_GROUPS}
    texts |= {age for age, _days in AGES} | {c.value for c in Characteristic}
    for table in report.tables:
        texts |= {table.title, *table.row_headers, *table.columns}
        texts |= {
            label
            for row in table.rows
            for header, label in zip(table.row_headers, row.labels, strict=True)
            if header not in DATA  # a quarter, a pathway, a board, an instrument's name
        }
    missing = sorted(texts - FIGURE_LABELS.keys())
    assert not missing, f"add these to FIGURE_LABELS (and their Welsh to the catalog): {missing}"


def test_fixed_texts_are_named_in_welsh_and_data_is_left_as_it_is() -> None:
    welsh = figure_label(translator(WELSH))
    assert welsh("Referred") == "Atgyfeiriwyd"
    assert welsh("Total") == "Cyfanswm"
    assert welsh("DOMESTIC_ABUSE") == "cam-drin domestig"
    english = figure_label(translator(ENGLISH))
    assert english("DOMESTIC_ABUSE") == "domestic abuse"
    assert english("Referred") == "Referred"
    for data in ("2026-27 Q1", "Baby Steps", "7A6", ""):  # a quarter, a pathway, a board
        assert welsh(data) == data
    untranslated = [k for k, v in FIGURE_LABELS.items() if translator(WELSH).text(v) == v]
    assert not untranslated


def test_the_charts_are_drawn_in_the_readers_language() -> None:
    report = one_family()
    words = translator(WELSH)
    welsh = {chart.key: chart for chart, _ in charts(report, words.text, figure_label(words))}
    english = {chart.key: chart for chart, _ in charts(report)}
    assert welsh["funnel"].title == "Atgyfeiriwyd, derbyniwyd, ymgysylltwyd, gadawyd"
    assert english["funnel"].title == "Referred, accepted, engaged, exited"
    assert welsh["babies"].alt.startswith("Ble roedd babanod y rhaglen yn 14 diwrnod, 6 mis")
    assert welsh["funnel"].svg != english["funnel"].svg  # the axis is labelled in Welsh


def test_the_page_in_welsh_escapes_the_agreements_symbol() -> None:
    report = one_family(DisclosureControl(symbol="<5"))
    words = translator(WELSH)
    figure = figure_label(words)
    response = render(
        request(cookie="cy"),
        "outcomes.html",
        {
            "reader": None,
            "report": report,
            "charts": charts(report, words.text, figure),
            "others": [],
            "figure": figure,
        },
    )
    shown = bytes(response.body).decode()
    assert '<html lang="cy">' in shown
    assert "Ffigurau ar 1 Hydref 2027" in shown
    assert "fel <strong>&lt;5</strong>" in shown  # the agreement's text escaped, the markup kept
    assert "<caption>Atgyfeiriadau, derbyniadau, ymgysylltu a gadael</caption>" in shown
    assert '<th scope="row">Cyfanswm</th>' in shown
    assert '<th scope="row">2026-27 Q1</th>' in shown  # data as it is
