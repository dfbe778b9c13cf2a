"""Passages and their marks as a reader meets them: whichever spelling or script of a name finds a
testimony (Xocalı, Xocali, Khojaly, Ходжалы, ХОДЖАЛЫ, or a variant the name authority adds), the
same minutes are shown and the same words marked, inflected forms in every language included."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import select

from archive.authority.service import add_variant
from archive.catalogue.models import Place
from archive.extensions import db
from archive.search.documents import word_spans
from archive.search.passages import snippet

# Fictional testimonies, each naming the town in its own language and script.
TELLINGS = {
    "az": ("Xocalı", ["Biz Xocalıda yaşayırdıq, məktəb yaxında idi.", "Qışda çox qar yağırdı.",
                      "Xocalıdan gecə çıxdıq.", "Oğlum Xocalını yalnız şəkillərdən tanıyır."]),
    "ru": ("Ходжалы", ["Мы жили в Ходжалы, у самой школы.", "Зимой шёл густой снег.",
                       "О Ходжалах мы потом говорили редко."]),
    "en": ("Khojaly", ["We lived in Khojaly near the school.", "Snow fell all that winter.",
                       "Khojaly's houses burned that night."]),
}  # fmt: skip
# What each testimony says of the town, in its own forms: every spelling must show and mark these.
SAID = {
    "az": ["<mark>Xocalıda</mark>", "<mark>Xocalıdan</mark>", "<mark>Xocalını</mark>"],
    "ru": ["<mark>Ходжалы</mark>", "<mark>Ходжалах</mark>"],
    "en": ["<mark>Khojaly</mark> near", "<mark>Khojaly&#x27;s</mark> houses"],
}


def _segments(texts: list[str]) -> list[dict]:
    return [
        {
            "start_ms": n * 60000,
            "end_ms": (n + 1) * 60000,
            "speaker": "Narrator",
            "text": text,
            "keywords": [],
        }
        for n, text in enumerate(texts)
    ]


@pytest.fixture
def tellings(create_testimony, users) -> dict[int, str]:
    found = {}
    for lang, (place, texts) in TELLINGS.items():
        testimony = create_testimony(
            title=f"A fictional testimony ({lang})",
            places=[place],
            interview={
                "date": "2019-03-14",
                "place": "Bakı",
                "interviewer": "Test Interviewer",
                "languages": [lang],
            },
            segments=_segments(texts),
        )
        found[testimony.id] = lang
    add_variant(users["archivist"], db.session.scalar(select(Place).where(Place.name == "Xocalı")), "Hocalı")
    return found


def _passages(client, q: str) -> dict[int, list[tuple[int, str]]]:
    body = client.get("/api/v1/search", query_string={"q": q, "per_page": 20}).get_json()
    return {hit["id"]: [(s["start_ms"], s["snippet"]) for s in hit["segments"]] for hit in body["hits"]}


def test_every_spelling_of_a_name_shows_the_same_passages_with_the_same_marks(client, tellings):
    seen = {q: _passages(client, q) for q in ("Xocalı", "Xocali", "Khojaly", "Ходжалы", "ХОДЖАЛЫ", "Hocalı")}
    first = seen["Xocalı"]
    assert set(first) == set(tellings)
    for tid, lang in tellings.items():
        snippets = " ".join(snippet for _, snippet in first[tid])
        assert all(said in snippets for said in SAID[lang]), (lang, snippets)
        # The segments that do not name the town are not passages for it.
        assert all("<mark>" in snippet for _, snippet in first[tid])
    # The same passages with the same marks; which comes first may follow the spelling typed (the
    # exact spelling ranks higher).
    for q, passages in seen.items():
        assert {tid: sorted(found) for tid, found in passages.items()} == {
            tid: sorted(found) for tid, found in first.items()
        }, q


_IN_AZERBAIJANI = {
    "date": "2019-03-14",
    "place": "Bakı",
    "interviewer": "Test Interviewer",
    "languages": ["az"],
}


def test_a_name_shows_the_minutes_that_name_it_not_a_word_that_stems_alike(client, create_testimony):
    # "Bakı" and "bağ" (a garden) share a stem once a final consonant is made voiceless ("bak").
    made = create_testimony(
        title="A fictional testimony of a garden",
        places=["Bakı"],
        interview=_IN_AZERBAIJANI,
        segments=_segments(["Biz bağda alma yığırdıq.", "Sonra Bakıya köçdük.", "O bağ qurudu."]),
    )
    passages = _passages(client, "Bakı")[made.id]
    assert [snippet for _, snippet in passages] == ["Sonra <mark>Bakıya</mark> köçdük."]
    # Nor is a testimony that only speaks of gardens found by it: every spelling finds the same.
    gardens = create_testimony(
        title="A fictional testimony of gardens only",
        places=[],
        interview=_IN_AZERBAIJANI,
        segments=_segments(["Biz bağda alma yığırdıq.", "Yayda bağımız yaşıl idi."]),
    )
    for q in ("Bakı", "Baku", "Баку"):
        assert set(_passages(client, q)) == {made.id}, q
    # Searched within the testimony, the city's minute is the one found.
    page = client.get(f"/testimonies/{made.id}", query_string={"q": "Bakı"}).get_data(as_text=True)
    assert "<mark>Bakıya</mark>" in page and "<mark>bağda</mark>" not in page
    assert gardens.id in _passages(client, "bağ")


def test_a_passage_holding_every_word_asked_comes_first(client, create_testimony):
    # The name is said three times in one minute, the other word three times in another; the minute
    # that holds both, once each, is the passage to show first, whichever word has more forms.
    made = create_testimony(
        title="A fictional testimony of a winter",
        places=["Ağdam"],
        interview=_IN_AZERBAIJANI,
        segments=_segments(
            [
                "Ağdam, Ağdam, Ağdamda hər şey başqa idi.",
                "Qar, qar, yenə qar yağırdı.",
                "Ağdamda qar yağanda evdə qaldıq.",
            ]
        ),
    )
    for q in ("Ağdam qar", "Агдам qar", "qar Aghdam"):
        passages = _passages(client, q)[made.id]
        assert passages[0] == (120000, "<mark>Ağdamda</mark> <mark>qar</mark> yağanda evdə qaldıq."), q
        assert len(passages) == 3


def test_a_name_written_in_small_letters_still_shows_its_passage(client, create_testimony):
    # The name's keys are kept for a word written as a name; one written in small letters is found
    # as typed (and, typed in small letters too, inflected), and its passage is shown.
    create_testimony(
        title="A fictional testimony naming the town", places=["Ağdam"], interview=_IN_AZERBAIJANI
    )
    made = create_testimony(
        title="A fictional testimony in small letters",
        places=[],
        interview=_IN_AZERBAIJANI,
        segments=_segments(["Qonşular gəldi.", "biz ağdam yolunda idik."]),
    )
    assert _passages(client, "Ağdam")[made.id] == [(60000, "biz <mark>ağdam</mark> yolunda idik.")]
    inflected = create_testimony(
        title="Another fictional testimony in small letters",
        places=[],
        interview=_IN_AZERBAIJANI,
        segments=_segments(["biz ağdamda yaşayırdıq."]),
    )
    assert _passages(client, "ağdam")[inflected.id] == [(0, "biz <mark>ağdamda</mark> yaşayırdıq.")]


def test_a_snippet_marks_the_same_words_from_the_spans_kept_at_indexing_as_from_its_text():
    rng = random.Random(1992)
    vocabulary = ["qaçdıq", "evdə", "Ağdam-da", "«Ходжалы»", "1992-ci", "A-17", "Ко́уз", "10:30", "don't", "—"]
    for _ in range(500):
        text = " ".join(rng.choice(vocabulary) for _ in range(rng.randrange(0, 80)))
        marked = set(rng.sample(range(90), rng.randrange(0, 5)))
        size = rng.choice([20, 60, 300])
        assert snippet(text, marked, size, spans=word_spans(text)) == snippet(text, marked, size)
