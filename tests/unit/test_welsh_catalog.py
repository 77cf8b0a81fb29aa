"""The pages' Welsh catalog: nothing untranslated, plurals by CLDR, drafts marked as drafts.

The first test is the check `make check` (and so CI) runs: it extracts every message of the
pages from the source, as ``pybabel extract -F babel.cfg`` does, and fails naming each one the
Welsh catalog lacks or leaves empty — a text added to a template without its Welsh fails here.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from babel import Locale
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from babel.plural import to_gettext

from hub.http.web.i18n import (
    ENGLISH,
    HTML_LANG,
    LOCALES,
    WELSH,
    choose_language,
    correspondence_languages,
    translator,
)

REPO = Path(__file__).resolve().parents[2]
CATALOG = LOCALES / "cy" / "LC_MESSAGES" / "messages.po"
REVIEW_NOTE = "Machine-drafted Welsh: needs review by a Welsh speaker"
COUNT = ("You have %(num)d open alert.", "You have %(num)d open alerts.")


def welsh() -> Catalog:
    with CATALOG.open("rb") as po:
        return read_po(po, locale="cy")


def extracted() -> list[tuple[str, str | tuple[str, ...], str | None]]:
    """Every message of the pages in the source: (where, msgid, context)."""
    with (REPO / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)  # type: ignore[no-untyped-call]
    return [
        (f"{filename}:{line}", message, context)
        for filename, line, message, _comments, context in extract_from_dir(
            str(REPO), method_map, options_map
        )
    ]


def test_no_text_of_the_pages_is_missing_from_the_welsh_catalog() -> None:
    catalog = welsh()
    found = extracted()
    assert len(found) > 40  # the extraction reached the templates and the modules
    untranslated = []
    for where, message, context in found:
        msgid = message[0] if isinstance(message, tuple) else message
        entry = catalog.get(msgid, context)
        if entry is None or not all(_strings(entry.string)):
            untranslated.append(f"{where}: {msgid!r}")
    assert not untranslated, "untranslated Welsh (add it to the catalog):\n" + "\n".join(
        untranslated
    )


def test_the_catalog_holds_no_text_the_pages_no_longer_show() -> None:
    shown = {(m[0] if isinstance(m, tuple) else m, c) for _, m, c in extracted()}
    stale = [(m.id, m.context) for m in welsh() if m.id and (_first(m.id), m.context) not in shown]
    assert not stale, f"obsolete entries: {stale}"


def _first(message: str | Sequence[str]) -> str:
    return message if isinstance(message, str) else message[0]


def _strings(string: str | Sequence[str] | None) -> Sequence[str]:
    if string is None:
        return ("",)
    return (string,) if isinstance(string, str) else string


def test_placeholders_agree_with_the_english() -> None:
    """Babel's own checks: each translation keeps the %(name)s placeholders of its msgid."""
    problems = [(m.id, [str(e) for e in errors]) for m, errors in welsh().check()]
    assert not problems


def test_plural_forms_are_cldrs() -> None:
    catalog = welsh()
    assert catalog.num_plurals == 6
    assert catalog.plural_expr == to_gettext(Locale("cy").plural_form).split("plural=")[1].rstrip(
        ";"
    )


ORDER = ("zero", "one", "two", "few", "many", "other")


@pytest.mark.parametrize("n", [0, 1, 2, 3, 6, 8, 11])
def test_each_count_takes_its_cldr_form(n: int) -> None:
    """The form a count is shown in is the one CLDR's category for it names, in the catalog's
    order of forms (zero, one, two, few, many, other)."""
    category = Locale("cy").plural_form(n)
    entry = welsh().get(COUNT[0])
    assert entry is not None
    forms = entry.string
    assert isinstance(forms, tuple)
    shown = str(translator(WELSH).ngettext(*COUNT, n))
    assert shown == forms[ORDER.index(category)].replace("%(num)d", str(n))


def test_six_counts_read_six_ways() -> None:
    forms = {translator(WELSH).translations.ngettext(*COUNT, n) for n in (0, 1, 2, 3, 6, 8, 11)}
    assert len(forms) == 6  # 8 and 11 are both "other"
    assert str(translator(ENGLISH).ngettext(*COUNT, 1)) == "You have 1 open alert."
    assert str(translator(ENGLISH).ngettext(*COUNT, 0)) == "You have 0 open alerts."


def test_machine_drafted_welsh_says_so() -> None:
    """Honesty in the catalog: an entry no Welsh speaker has reviewed is fuzzy and carries the
    note; an entry without the note has been reviewed, so is not fuzzy."""
    for message in welsh():
        if not message.id:
            continue
        drafted = any(REVIEW_NOTE in comment for comment in message.user_comments)
        assert drafted == message.fuzzy, message.id


def test_values_are_escaped_and_markup_is_kept() -> None:
    words = translator(WELSH)
    assert str(words.gettext("NHS %(number)s", number="<b>1</b>")) == "GIG &lt;b&gt;1&lt;/b&gt;"
    assert words.text("NHS %(number)s", number="<b>1</b>") == "GIG <b>1</b>"
    assert str(translator(ENGLISH).pgettext("link", "Open")) == "Open"
    assert str(words.pgettext("link", "Open")) != str(words.gettext("Open"))  # Agor / Agored


@pytest.mark.parametrize(
    ("cookie", "accept", "chosen"),
    [
        (None, None, ENGLISH),
        ("cy", None, WELSH),
        ("en", "cy-GB,cy;q=0.9", ENGLISH),  # her choice beats her browser
        (None, "cy-GB,en;q=0.5", WELSH),
        (None, "fr-FR,en-GB;q=0.8,cy;q=0.9", WELSH),  # q-values, not order
        (None, "fr-FR", ENGLISH),
        ("xx", "garbage;;q=a", ENGLISH),
    ],
)
def test_the_readers_language(cookie: str | None, accept: str | None, chosen: str) -> None:
    assert choose_language(cookie, accept) == chosen
    assert HTML_LANG[chosen] in {"en-GB", "cy"}


@pytest.mark.parametrize(
    ("preference", "languages"),
    [
        ("cy", (WELSH,)),
        ("cy-GB", (WELSH,)),
        ("en", (ENGLISH,)),
        ("pl", (ENGLISH,)),
        (None, (WELSH, ENGLISH)),
        ("", (WELSH, ENGLISH)),
        ("not a tag!", (WELSH, ENGLISH)),
    ],
)
def test_correspondence_follows_the_persons_preference(
    preference: str | None, languages: tuple[str, ...]
) -> None:
    """Welsh where Welsh is preferred, both (Welsh first) where nothing is known."""
    assert correspondence_languages(preference) == languages
