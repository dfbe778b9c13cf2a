"""The search index's layout as a reader meets it: phrases found from word pairs, short prefixes from
words' beginnings, snippets marked at the words the query matched, fuzzy words over every segment,
facets of large results, and withdrawals. Every name and place here is made up."""

import re
import unicodedata
from collections import Counter

import pytest

from archive.search.index import SearchIndex
from archive.search.query import search
from tests.test_search_index import everywhere, fictional, ids


@pytest.fixture
def index(tmp_path):
    built = SearchIndex(tmp_path / "index")
    yield built
    built.close()


def found(index, q, audience="public", **kwargs):
    return sorted(ids(search(index, audience, q, per_page=100, **kwargs)))


def snippets(index, q):
    """The snippets of the first hit's passages."""
    return [segment["snippet"] for segment in search(index, "public", q)["hits"][0]["segments"]]


def marked(snippet):
    return re.findall(r"<mark>(.*?)</mark>", snippet)


# Phrases, from the pairs of adjacent words


def test_a_two_word_phrase_finds_only_the_words_adjacent_and_in_order(index):
    index.apply(
        [
            (1, everywhere(fictional(1, "the lantern bridge stood by the mill"))),
            (2, everywhere(fictional(2, "the bridge lantern stood by the mill"))),
            (3, everywhere(fictional(3, "a lantern hung on the old bridge"))),
            (4, everywhere(fictional(4, "lantern", "bridge"))),
        ]
    )
    assert found(index, '"lantern bridge"') == [1]
    assert found(index, '"bridge lantern"') == [2]
    assert found(index, "lantern bridge") == [1, 2, 3, 4]


def test_a_three_word_phrase_is_not_found_from_its_pairs_apart(index):
    index.apply(
        [
            (1, everywhere(fictional(1, "grey heron wing"))),
            (2, everywhere(fictional(2, "grey heron, then a heron wing"))),
            (3, everywhere(fictional(3, "heron wing grey heron"))),
        ]
    )
    assert found(index, '"grey heron wing"') == [1]
    assert found(index, '"heron wing grey"') == [3]
    assert found(index, '"grey heron"') == [1, 2, 3]


def test_a_phrase_is_found_whether_its_pair_is_a_term_or_in_a_bucket(index, monkeypatch):
    from archive.search import analysis

    # One bucket for every rare pair: each document of it holds some rare pair, and only the
    # positions tell which hold this one.
    monkeypatch.setattr(analysis, "PAIR_BUCKETS", 1)
    common = [(n, everywhere(fictional(n, "the grey heron waded"))) for n in range(1, 11)]
    apart = [
        (11, everywhere(fictional(11, "a heron, old and grey"))),
        (12, everywhere(fictional(12, "grey stones, one heron"))),
    ]
    index.rebuild(common + apart, procs=1)
    # In a segment of its own, "grey heron" is rare: in the bucket.
    index.apply([(13, everywhere(fictional(13, "one grey heron grey heron")))])
    assert found(index, '"grey heron"') == [*range(1, 11), 13]
    assert found(index, '"heron grey"') == [13]
    assert found(index, '"grey heron waded"') == list(range(1, 11))
    # Twice the phrase in as short a text: first.
    assert ids(search(index, "public", '"grey heron"'))[0] == 13


def test_a_phrase_split_between_two_texts_is_not_found(index):
    segments = fictional(1, "we met the grey", "heron wing at dawn", "and a heron")["segments"]
    segments[2]["keywords"] = ["wing feather"]
    index.apply(
        [
            (1, everywhere(fictional(1, title="The grey", summary="heron came back", segments=segments))),
            (2, everywhere(fictional(2, "we met the grey heron wing at dawn"))),
        ]
    )
    # Across two segments, from the title into the summary, from a segment's text into its keyword.
    assert found(index, '"grey heron wing"') == [2]
    assert found(index, '"grey heron"') == [2]
    assert found(index, '"heron wing"') == [1, 2]
    assert found(index, '"heron wing feather"') == []
    assert found(index, '"wing feather"') == [1]


def test_a_phrase_is_found_without_diacritics_and_a_name_in_cyrillic(index):
    index.apply(
        [
            (1, everywhere(fictional(1, "Həmin qış gecəsi Şuşa yolu bağlı idi."))),
            (2, everywhere(fictional(2, "Qış gəldi, gecəsi uzun idi, yolu Şuşa tərəfə."))),
        ]
    )
    for q in ('"qış gecəsi"', '"qis gecesi"', '"QIŞ GECƏSİ"', '"susa yolu"'):
        result = search(index, "public", q)
        assert ids(result) == [1], q
        assert len(marked(result["hits"][0]["segments"][0]["snippet"])) == 2, q
    # Only names meet across scripts: ordinary words that transliterate alike are other words.
    assert ids(search(index, "public", "Шуша")) == [1, 2]


def test_a_testimony_holding_the_phrase_three_times_ranks_above_one_holding_it_once(index):
    # The same words as often and texts as long: only the phrase's own count tells them apart.
    once = "qış gecəsi, qış yox gecəsi yox, qış yox gecəsi"
    thrice = "qış gecəsi, qış gecəsi, qış gecəsi, yox yox yox"
    index.apply([(1, everywhere(fictional(1, once))), (2, everywhere(fictional(2, thrice)))])
    result = search(index, "public", '"qis gecesi"')
    assert ids(result) == [2, 1]
    assert marked(result["hits"][0]["segments"][0]["snippet"]) == ["qış", "gecəsi"] * 3
    assert marked(result["hits"][1]["segments"][0]["snippet"]) == ["qış", "gecəsi"]


# Prefixes, from the words' beginnings


def test_prefixes_of_two_to_six_letters_find_the_words_so_begun(index):
    texts = {
        1: "a lantern by the door",
        2: "a lance by the door",
        3: "the lan of the valley",
        4: "la la la",
        5: "the lantana bush",
        6: "the lant was dry",
        7: "olan olanter klantern",
        8: "l l l lx",
    }
    index.apply([(n, everywhere(fictional(n, text))) for n, text in texts.items()])
    assert found(index, "la*") == [1, 2, 3, 4, 5, 6]
    assert found(index, "lan*") == [1, 2, 3, 5, 6]
    assert found(index, "lant*") == [1, 5, 6]
    assert found(index, "lante*") == [1]
    assert found(index, "lanter*") == [1]
    assert found(index, "lantana*") == [5]
    assert found(index, "lanterns*") == []


def test_a_prefix_typed_with_diacritics_or_without_finds_the_folded_word(index):
    index.apply(
        [
            (1, everywhere(fictional(1, "Biz Ağdamda qaldıq."))),
            (2, everywhere(fictional(2, "Yol Ağcabədiyə gedirdi."))),
            (3, everywhere(fictional(3, "Agdarə yolu uzun idi."))),
            (4, everywhere(fictional(4, "Bağdan keçdik."))),
        ]
    )
    for q in ("Ağda*", "agda*", "AGDA*"):
        assert found(index, q) == [1, 3], q
    for q in ("Ağ*", "ag*"):
        assert found(index, q) == [1, 2, 3], q
    for q in ("Ağdamd*", "agdamd*"):
        assert found(index, q) == [1], q
    assert found(index, "Ağc*") == [2]
    # A prefix stays in its script: only a whole name meets its spellings in another.
    assert found(index, "Агда*") == []


def test_a_testimony_using_the_prefixed_word_often_ranks_above_one_using_it_once(index):
    index.apply(
        [
            (1, everywhere(fictional(1, "Ağdamda qış, yayda isə bağ, payızda isə göl"))),
            (2, everywhere(fictional(2, "Ağdamda qış, Ağdama yol, Ağdamdan isə bu göl"))),
        ]
    )
    for q in ("agd*", "Ağda*"):
        assert ids(search(index, "public", q)) == [2, 1], q


def test_a_snippet_marks_the_words_a_prefix_found(index):
    index.apply([(1, everywhere(fictional(1, "a lantern and a lance by the lane, not an olan")))])
    for q in ("la*", "lan*"):
        assert snippets(index, q) == [
            "a <mark>lantern</mark> and a <mark>lance</mark> by the <mark>lane</mark>, not an olan"
        ], q
    assert snippets(index, "lant*") == ["a <mark>lantern</mark> and a lance by the lane, not an olan"]
    assert snippets(index, "lante*") == ["a <mark>lantern</mark> and a lance by the lane, not an olan"]


# Snippets marked at the words the query matched


def test_a_stemmed_query_marks_exactly_the_words_it_found(index):
    text = "The house by the household well, a big house, and houses beyond."
    index.apply([(1, everywhere(fictional(1, text, languages=["en"])))])
    assert snippets(index, "houses") == [
        "The <mark>house</mark> by the household well, a big <mark>house</mark>, "
        "and <mark>houses</mark> beyond."
    ]


def test_a_name_spelled_another_way_marks_that_name_and_its_inflected_forms(index):
    index.apply([(1, everywhere(fictional(1, "Dedi ki Xocalı qarlı idi, Xocalıda isə yox.")))])
    assert marked(snippets(index, "Khojaly")[0]) == ["Xocalı", "Xocalıda"]


def test_a_phrase_is_marked_where_its_words_stand_together(index):
    index.apply([(1, everywhere(fictional(1, "old man, old bridge, bridge old, an old bridge")))])
    assert snippets(index, '"old bridge"') == [
        "old man, <mark>old</mark> <mark>bridge</mark>, bridge old, an <mark>old</mark> <mark>bridge</mark>"
    ]


def test_a_phrase_with_words_between_marks_its_own_words(index):
    index.apply([(1, everywhere(fictional(1, "Şuşa yolu uzun idi")))])
    assert snippets(index, '"Şuşa uzun"~2') == ["<mark>Şuşa</mark> yolu <mark>uzun</mark> idi"]


def test_a_field_of_the_segment_marks_no_word_of_its_text(index):
    document = fictional(1, "Once we baked bread at dawn", "Once there was bread")
    document["segments"][0]["speaker"] = "Interviewer"
    document["segments"][0]["keywords"] = ["harvest"]
    index.apply([(1, everywhere(document))])
    for q in ("speaker:Interviewer bread", "keyword:harvest bread"):
        assert snippets(index, q) == ["Once we baked <mark>bread</mark> at dawn"], q
    assert snippets(index, "speaker:Interviewer") == ["Once we baked bread at dawn"]


def test_special_characters_are_escaped_and_marks_stay_on_their_words(index):
    text = 'Tom & "Salt" <i>bread</i> & salt\'s bread'
    index.apply([(1, everywhere(fictional(1, text)))])
    assert snippets(index, "salt bread") == [
        "Tom &amp; &quot;<mark>Salt</mark>&quot; &lt;i&gt;<mark>bread</mark>&lt;/i&gt; &amp; "
        "<mark>salt&#x27;s</mark> <mark>bread</mark>"
    ]


def test_a_text_not_in_nfc_is_marked_on_the_right_word(index):
    # "Kafe\u0301da" is one word in NFC ("Kaféda") but two if read as written; "S\u0327us\u0327a" is "Şuşa".
    text = "Kafe\u0301da dedilər: Xocalı qarlı idi, S\u0327us\u0327a da."
    index.apply([(1, everywhere(fictional(1, text)))])
    for q, word in (
        ("Xocalı", "Xocalı"),
        ("qarli", "qarlı"),
        ("Susa", "Şuşa"),
        ("Şuşa", "Şuşa"),
        ("kafeda", "Kaféda"),
    ):
        (snippet,) = snippets(index, q)
        assert [unicodedata.normalize("NFC", w) for w in marked(snippet)] == [word], q
        assert unicodedata.normalize("NFC", re.sub("</?mark>", "", snippet)) == unicodedata.normalize(
            "NFC", text
        )


def test_a_query_typed_with_letters_and_accents_apart_finds_the_word(index):
    index.apply([(1, everywhere(fictional(1, "Kaféda dedilər: Şuşa qarlı idi.")))])
    # What some keyboards and copied text give: a letter, then its accent as a character of its own.
    for q, word in (("S\u0327us\u0327a", "Şuşa"), ("Kafe\u0301da", "Kaféda"), ("S\u0327us\u0327*", "Şuşa")):
        assert found(index, q) == [1], q
        (snippet,) = snippets(index, q)
        assert marked(snippet) == [word], q


# Fuzzy words over every segment


def test_a_misspelt_word_is_found_in_the_first_change_and_in_later_ones(index):
    index.apply([(1, everywhere(fictional(1, "a lantern in the window")))])
    assert found(index, "lantrn~") == [1]
    index.apply([(2, everywhere(fictional(2, "a lantern and a candle")))])
    index.apply([(3, everywhere(fictional(3, "an ember glowing")))])
    assert found(index, "lanturn~") == [1, 2]
    assert found(index, "cendle~") == [2]
    assert found(index, "embar~") == [3]
    assert marked(snippets(index, "embar~")[0]) == ["ember"]
    # The first testimony edited: its old words leave, its new ones are found.
    index.apply([(1, everywhere(fictional(1, "a candle in the window", version=2)))])
    assert found(index, "lanturn~") == [2]
    assert found(index, "cendle~") == [1, 2]


def test_did_you_mean_proposes_words_of_every_change(index):
    index.apply([(1, everywhere(fictional(1, "a lantern in the window")))])
    assert search(index, "public", "lanturn")["suggestion"] == "lantern"
    index.apply([(2, everywhere(fictional(2, "a candle on the sill")))])
    index.apply([(3, {"staff": fictional(3, "a secretword")})])
    result = search(index, "public", "lanturn candel")
    assert result["total"] == 0
    assert result["suggestion"] == "lantern candle"
    assert search(index, "public", "secretwerd")["suggestion"] is None
    assert search(index, "staff", "secretwerd")["suggestion"] == "secretword"


# Facets of large results

PLACES = ["Qarayurd", "Dumanlı", "Sarıbulaq", "Yelkənli"]
LANGUAGES = ["az", "ru", "en"]


def _small(n, version=1, extra_place=None):
    places = [PLACES[3] if n % 8 == 0 else PLACES[n % 3]]
    if n % 7 == 0:
        places.append(PLACES[(n + 1) % 4])
    if extra_place:
        places.append(extra_place)
    languages = [LANGUAGES[n % 3]] + (["en"] if n % 11 == 0 and n % 3 != 2 else [])
    return fictional(
        n,
        "snow wind" if n % 25 else "snow",
        version=version,
        title=f"Small {n}",
        narrator=f"N {n}",
        places=places,
        languages=languages,
        subjects=["winter"] if n % 2 else ["winter", "road"],
        interview_year=1990 + n % 9,
        interview_date=f"{1990 + n % 9}-01-01",
        birth_year=1920 + n % 50,
    )


def expected_facets(documents):
    names = ("place", "subject", "person", "language", "year", "decade", "access")
    counts = {name: Counter() for name in names}
    for document in documents:
        counts["place"].update(set(document["places"]))
        counts["subject"].update(set(document["subjects"]))
        counts["person"].update(set(document.get("people") or ()))
        counts["language"].update(set(document["languages"]))
        counts["year"][document["interview_year"]] += 1
        counts["decade"][document["birth_year"] // 10 * 10] += 1
        counts["access"][document["access"]] += 1
    facets = {}
    for name, counter in counts.items():
        if name in ("year", "decade"):
            ordered = sorted(counter.items())
        else:
            ordered = sorted(counter.items(), key=lambda item: (-item[1], item[0]))
        facets[name] = [[value, count] for value, count in ordered]
    return facets


def test_facets_of_hundreds_of_testimonies_count_each_testimony_once_per_value(index):
    documents = {n: _small(n) for n in range(1, 281)}
    index.rebuild([(n, everywhere(d)) for n, d in documents.items()], procs=1)
    # Later changes: new testimonies, edits that move a testimony elsewhere, withdrawals.
    changes = {n: _small(n) for n in range(281, 296)}
    changes |= {n: _small(n, version=2, extra_place="Köhnəkənd") for n in (3, 50, 120, 200)}
    index.apply([(n, everywhere(d)) for n, d in changes.items()])
    index.apply([(n, {"staff": documents[n]}) for n in (5, 60, 61)])
    documents |= changes
    for n in (5, 60, 61):
        del documents[n]

    everything = search(index, "public", "snow")
    assert everything["total"] == len(documents) == 292
    assert everything["facets"] == expected_facets(documents.values())
    assert search(index, "public", "")["facets"] == everything["facets"]
    assert dict(everything["facets"]["place"])["Köhnəkənd"] == 4

    windy = [d for n, d in documents.items() if n % 25]
    assert len(windy) > 200
    result = search(index, "public", "snow wind")
    assert result["total"] == len(windy)
    assert result["facets"] == expected_facets(windy)

    three = ["Qarayurd", "Dumanlı", "Sarıbulaq"]
    kept = [d for d in windy if set(three) & set(d["places"])]
    assert len(kept) > 200
    result = search(index, "public", "snow wind", filters={"place": three})
    assert result["total"] == len(kept)
    assert result["facets"] == expected_facets(kept)

    one = [d for d in windy if "Yelkənli" in d["places"] and "en" in d["languages"]]
    result = search(index, "public", "wind", filters={"place": "Yelkənli", "lang": "en"})
    assert result["total"] == len(one) > 0
    assert result["facets"] == expected_facets(one)


# Withdrawals and many changes


def test_a_testimony_published_then_withdrawn_is_not_found(index):
    # Published together, so that the withdrawn ones stay in a segment with one still published.
    index.apply(
        [
            (1, everywhere(fictional(1, "a candle on the sill"))),
            (2, everywhere(fictional(2, "qış gecəsi lantern"))),
            (3, everywhere(fictional(3, "qış gecəsi lantern"))),
        ]
    )
    index.apply([(4, everywhere(fictional(4, "qış gecəsi lantern")))])
    index.apply([(2, {"staff": fictional(2, "qış gecəsi lantern")})])
    index.apply([(3, {}), (4, {"staff": fictional(4, "qış gecəsi lantern")})])
    for q in ("lantern", '"qis gecesi"', '"qış gecəsi lantern"', "qış", "lan*", "lante*", "lanturn~"):
        assert found(index, q) == [], q
        assert found(index, q, audience="staff") == [2, 4], q
    assert found(index, "") == [1]
    assert found(index, "candle") == [1]


def test_did_you_mean_never_proposes_a_word_of_a_withdrawn_testimony(index):
    index.apply(
        [
            (1, everywhere(fictional(1, "a candle on the sill"))),
            (2, everywhere(fictional(2, "Zarqaliyev told us"))),
        ]
    )
    index.apply([(2, {"staff": fictional(2, "Zarqaliyev told us")})])
    assert search(index, "public", "Zarqaliyev")["total"] == 0
    assert search(index, "staff", "Zarqaliyef")["suggestion"] == "Zarqaliyev"
    assert search(index, "public", "Zarqaliyef")["suggestion"] is None


def test_searching_after_many_changes_applied_one_by_one(index):
    live = {}
    for n in range(1, 31):
        text = "qış gecəsi lantern" if n % 2 else "lantern gecəsi qış"
        document = fictional(n, text, places=[PLACES[n % 4]])
        index.apply([(n, everywhere(document))])
        live[n] = document
        if n % 5 == 0:
            index.apply([(n - 2, {"staff": live.pop(n - 2)})])
    odd = sorted(n for n in live if n % 2)
    for _ in range(2):
        assert found(index, '"qis gecesi"') == odd
        assert found(index, '"gecesi qis"') == sorted(set(live) - set(odd))
        assert found(index, "lan*") == sorted(live)
        assert found(index, "lanturn~") == sorted(live)
        facets = search(index, "public", "lantern")["facets"]
        assert facets == expected_facets(live.values())
        index.wait_for_merges()
