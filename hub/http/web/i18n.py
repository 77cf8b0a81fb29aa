"""The pages in Welsh and English: Babel catalogs, the reader's language, dates in her language.

The Welsh Language Standards (Welsh Language (Wales) Measure 2011) bind the councils and health
boards the hub works for in Wales, and work done on their behalf: every page usable in Welsh,
a person's language choice asked once and kept. So every text of the pages is a message of a
gettext catalog (``locales/cy/LC_MESSAGES/messages.po``; English is the source language), the
reader's choice is the ``hub_lang`` cookie (then her browser's ``Accept-Language``, then
English), and the page's ``lang`` attribute says which language it is in.

The catalogs are compiled when a process first needs them, by Babel, from the ``.po`` files in
the repository (ADR 0034): no binary ``.mo`` is committed and no install step can be forgotten.
Machine-drafted Welsh is marked ``fuzzy`` with a translator comment until a Welsh speaker has
reviewed it; it is shown all the same (``use_fuzzy``), because the alternative for a
Welsh-speaking midwife is English. Plural forms are CLDR's (Welsh has six: zero, one, two, few,
many, other); the catalog's ``Plural-Forms`` header is Babel's translation of CLDR's rule.
"""

from __future__ import annotations

import gettext
import io
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Final
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError, negotiate_locale
from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations
from markupsafe import Markup, escape

LOCALES: Final = Path(__file__).parent / "locales"
ENGLISH: Final = "en"
WELSH: Final = "cy"
LANGUAGES: Final = (ENGLISH, WELSH)  # English is the source language: its catalog is empty
LANGUAGE_COOKIE: Final = "hub_lang"
# The tag a page declares: British English, Welsh.
HTML_LANG: Final = {ENGLISH: "en-GB", WELSH: "cy"}
UK: Final = ZoneInfo("Europe/London")


def N_(message: str) -> str:  # noqa: N802 -- the gettext name extractors look for
    """Mark a message for the catalog where it is defined; it is translated where shown."""
    return message


@dataclass(frozen=True)
class Translator:
    """One language's texts for one page: messages, plurals and dates, HTML-safe."""

    language: str
    translations: gettext.NullTranslations

    @property
    def html_lang(self) -> str:
        return HTML_LANG[self.language]

    @property
    def locale(self) -> Locale:
        return Locale.parse("en_GB" if self.language == ENGLISH else self.language)

    def text(self, message: str, **values: object) -> str:
        """A message as plain text (a log line, a header), ``%(name)s`` filled in."""
        translated = self.translations.gettext(message)
        return translated % values if values else translated

    def gettext(self, message: str, **values: object) -> Markup:
        """A message for a template: the translation escaped, values escaped unless Markup."""
        return _fill(self.translations.gettext(message), values)

    def pgettext(self, context: str, message: str, **values: object) -> Markup:
        """A message whose translation depends on where it stands ("Open": a status, a link)."""
        return _fill(self.translations.pgettext(context, message), values)

    def ngettext(self, singular: str, plural: str, n: int, **values: object) -> Markup:
        """The plural form CLDR's rule picks for ``n``; ``%(num)d`` is ``n``."""
        return _fill(self.translations.ngettext(singular, plural, n), {"num": n, **values})

    def when(self, moment: datetime, pattern: str) -> str:
        """A moment in UK time in this language (a CLDR pattern: ``d MMM y HH:mm``)."""
        return format_datetime(moment, pattern, tzinfo=UK, locale=self.locale)

    def day(self, day: date, pattern: str = "d MMM y") -> str:
        return format_date(day, pattern, locale=self.locale)

    def language_name(self, tag: str) -> str:
        """A BCP 47 tag as this language names it (``cy``: *Welsh*, *Cymraeg*); an unknown
        tag as it is."""
        try:
            return Locale.parse(tag, sep="-").get_display_name(self.locale) or tag
        except (ValueError, UnknownLocaleError):
            return tag


def _fill(translated: str, values: dict[str, object]) -> Markup:
    template = escape(translated)
    return template % values if values else template


@cache
def translator(language: str) -> Translator:
    """The translator of one of :data:`LANGUAGES`, its catalog compiled once per process."""
    if language == ENGLISH:
        return Translator(ENGLISH, gettext.NullTranslations())
    if language not in LANGUAGES:
        raise ValueError(f"no catalog for {language!r}; the hub speaks {', '.join(LANGUAGES)}")
    with (LOCALES / language / "LC_MESSAGES" / "messages.po").open("rb") as po:
        catalog = read_po(po, locale=language)
    compiled = io.BytesIO()
    write_mo(compiled, catalog, use_fuzzy=True)  # machine-drafted Welsh beats English (above)
    compiled.seek(0)
    return Translator(language, Translations(compiled))


def choose_language(cookie: str | None, accept_language: str | None) -> str:
    """The reader's language: her choice (the cookie), else her browser's first language the
    hub speaks, else English."""
    if cookie in LANGUAGES:
        return cookie
    chosen = negotiate_locale(_preferences(accept_language or ""), LANGUAGES, sep="-")
    return chosen or ENGLISH


def _preferences(header: str) -> list[str]:
    """An Accept-Language header's tags, most preferred first (q-values honoured)."""
    weighted: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        name, _, value = params.strip().partition("=")
        try:
            quality = float(value) if name == "q" else 1.0
        except ValueError:
            quality = 0.0
        if tag and tag != "*" and quality > 0:
            weighted.append((-quality, position, tag))
    return [tag for _, _, tag in sorted(weighted)]


def correspondence_languages(preference: str | None) -> tuple[str, ...]:
    """The languages to write to a person in, from the preference their records give (a BCP 47
    tag such as FHIR ``Patient.communication.language``): Welsh where Welsh is preferred,
    English where another language is, and both, Welsh first, where nothing is known, as the
    Welsh Language Standards ask of correspondence."""
    if preference is None or not preference.strip():
        return (WELSH, ENGLISH)
    try:
        spoken = Locale.parse(preference.strip(), sep="-").language
    except (ValueError, UnknownLocaleError):
        return (WELSH, ENGLISH)
    return (WELSH,) if spoken == WELSH else (ENGLISH,)
