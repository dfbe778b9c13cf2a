"""The interface catalogues: every marked string has a real Azerbaijani and Russian translation,
placeholders survive translation, the compiled .mo files match their .po files, and the template
(.pot) holds every string marked in the code and templates.

To refresh after marking new strings, see the commands at the top of babel.cfg.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from tests.conftest import login

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "archive" / "translations"
POT = TRANSLATIONS / "messages.pot"
LANGUAGES = ("az", "ru")
PLURAL_FORMS = {"az": 2, "ru": 3}

# %(name)s, %(num)d, bare %s / %d; and {name} as str.format would read it.
_PERCENT = re.compile(r"%(?:\(\w+\))?[-+ #0]*\d*(?:\.\d+)?[sdifr%]")
_BRACES = re.compile(r"\{[^{}]*\}")
_TAGS = re.compile(r"</?([a-zA-Z][a-zA-Z0-9]*)\b[^>]*>")
_ENTITIES = re.compile(r"&(?:[a-zA-Z]+|#\d+);")


def _read(path: Path):
    with path.open("rb") as fh:
        return read_po(fh)


def _ids(message) -> tuple[str, ...]:
    return tuple(message.id) if isinstance(message.id, (tuple, list)) else (message.id,)


def _strings(message) -> tuple[str, ...]:
    s = message.string
    return tuple(s) if isinstance(s, (tuple, list)) else (s,)


def _marks(text: str) -> tuple:
    """What must come through translation unchanged: placeholders, HTML tags and entities."""
    percents = sorted(p for p in _PERCENT.findall(text) if p != "%%")
    return (
        tuple(percents),
        tuple(sorted(_BRACES.findall(text))),
        tuple(sorted(_TAGS.findall(text))),
        tuple(sorted(_ENTITIES.findall(text))),
    )


def _template_ids() -> list[tuple[str, ...]]:
    return [_ids(m) for m in _read(POT) if m.id]


def test_the_template_holds_every_marked_string():
    """A string marked in the code but missing from messages.pot: run the extract step again."""
    with (ROOT / "babel.cfg").open(encoding="utf-8") as fh:
        method_map, options_map = parse_mapping_cfg(fh, "babel.cfg")
    keywords = dict(DEFAULT_KEYWORDS, lazy_gettext=None, _l=None)
    found = set()
    for _filename, _lineno, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=keywords
    ):
        msgid = message[0] if isinstance(message, (tuple, list)) else message
        if msgid:
            found.add(msgid)
    in_template = {ids[0] for ids in _template_ids()}
    assert found, "nothing was extracted: is babel.cfg right?"
    assert sorted(found - in_template) == [], "re-extract messages.pot (see babel.cfg)"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_string_has_a_finished_translation(lang):
    catalog = _read(TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po")
    problems = []
    for ids in _template_ids():
        message = catalog.get(ids[0])
        if message is None:
            problems.append(f"missing: {ids[0]!r}")
            continue
        if message.fuzzy:
            problems.append(f"fuzzy: {ids[0]!r}")
        strings = _strings(message)
        if any(not s.strip() for s in strings):
            problems.append(f"untranslated: {ids[0]!r}")
        if len(ids) > 1 and len(strings) != PLURAL_FORMS[lang]:
            problems.append(f"{len(strings)} plural forms instead of {PLURAL_FORMS[lang]}: {ids[0]!r}")
    assert problems == []


@pytest.mark.parametrize("lang", LANGUAGES)
def test_placeholders_and_markup_survive_translation(lang):
    catalog = _read(TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po")
    problems = []
    for message in catalog:
        if not message.id:
            continue
        ids = _ids(message)
        # A plural's forms may each use the placeholders of either English form.
        expected = {_marks(i) for i in ids}
        for s in _strings(message):
            if s and _marks(s) not in expected:
                problems.append(f"{ids[0]!r}: {_marks(s)} not in {sorted(expected)}")
    assert problems == []


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_translation_is_not_a_copy_of_the_english(lang):
    """A few words are the same in every language; whole sentences never are."""
    catalog = _read(TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po")
    copied = [
        m.id
        for m in catalog
        if isinstance(m.id, str) and len(m.id.split()) > 3 and m.string.strip() == m.id.strip()
    ]
    assert copied == []


def _as_compiled(catalog) -> dict:
    """What gettext reads from a catalogue: each message by context and id(s) with its translation(s).
    Fuzzy and untranslated messages are left out, as `pybabel compile` leaves them out; the header
    counts only for its plural rule and charset, not for the Babel version that wrote it."""
    messages = {(m.context, _ids(m)): _strings(m) for m in catalog if m.id and m.string and not m.fuzzy}
    return {"plural forms": catalog.plural_forms, "charset": catalog.charset, "messages": messages}


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_compiled_catalogue_is_up_to_date(lang):
    """The .mo the app loads says what the .po says today: same messages, plurals, contexts."""
    folder = TRANSLATIONS / lang / "LC_MESSAGES"
    with (folder / "messages.mo").open("rb") as fh:
        compiled = _as_compiled(read_mo(fh))
    assert compiled == _as_compiled(_read(folder / "messages.po")), (
        f"run: pybabel compile -d archive/translations ({lang} is stale)"
    )


def test_a_staff_page_in_russian_uses_the_catalogue(client, users):
    login(client, users["moderator"])
    assert "Nothing is waiting for review." in client.get("/review").get_data(as_text=True)
    assert client.get("/lang/ru").status_code == 302
    page = client.get("/review").get_data(as_text=True)
    assert '<html lang="ru">' in page
    assert "Очередь проверки" in page
    assert "Ничего не ждёт проверки." in page
    assert "Nothing is waiting for review." not in page


def test_a_staff_page_in_azerbaijani_uses_the_catalogue(client, users):
    login(client, users["archivist"])
    assert client.get("/lang/az").status_code == 302
    page = client.get("/testimonies/new").get_data(as_text=True)
    assert '<html lang="az">' in page
    assert "Yeni müsahibə" in page
    assert "Qaralama kimi saxla" in page
    assert "Save as draft" not in page
