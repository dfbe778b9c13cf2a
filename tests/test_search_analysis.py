"""How each language's words become index terms: case, folding, transliteration, stemming."""

from archive.search.analysis import (
    analyze,
    azerbaijani_analyzer,
    english_analyzer,
    fold,
    lowercase_auto,
    lowercase_general,
    lowercase_turkic,
    multilingual_analyzer,
    name_key,
    query_forms,
    russian_analyzer,
    stemmers_for,
    turkish_analyzer,
    word_forms,
    words,
)


def terms(analyzer, text):
    return [token.text for token in analyzer(text)]


def test_turkic_lowercasing_keeps_dotless_and_dotted_i_apart():
    assert lowercase_turkic("IŞIQ İNSAN") == "ışıq insan"


def test_general_lowercasing_gives_a_plain_i_for_dotted_capital_i():
    assert lowercase_general("İstanbul") == "istanbul"
    assert lowercase_general("IVAN") == "ivan"


def test_a_word_of_unknown_language_is_lowercased_the_turkic_way_only_when_it_looks_turkic():
    assert lowercase_auto("QIŞ") == "qış"
    assert lowercase_auto("WINTER IS") == "winter is"


def test_folding_drops_azerbaijani_and_turkish_diacritics():
    assert fold("xocalı") == "xocali"
    assert fold("ağdam") == "agdam"
    assert fold("şuşa") == "susa"
    assert fold("gəncə") == "gence"
    assert fold("köçkün") == "kockun"


def test_cyrillic_and_latin_spellings_of_a_name_fold_alike():
    assert fold("ходжалы") == fold("xocalı") == "xocali"
    assert fold("шуша") == fold("şuşa")
    assert fold("агдам") == fold("ağdam")


def test_english_style_romanisations_meet_through_the_name_key():
    assert name_key(fold("khojaly")) == name_key(fold("xocalı"))
    assert name_key(fold("khodzhaly")) == name_key(fold("ходжалы"))
    assert name_key(fold("shusha")) == name_key(fold("şuşa"))


def test_turkish_spellings_of_azerbaijani_names_meet_through_the_name_key():
    # Turkish has no x: it writes Hocalı, Hankendi, Haçmaz for Xocalı, Xankəndi, Xaçmaz.
    assert name_key(fold("hocalı")) == name_key(fold("xocalı")) == name_key(fold("ходжалы"))
    assert name_key(fold("hankendi")) == name_key(fold("xankəndi")) == name_key(fold("ханкенди"))
    assert name_key(fold("şahbuz")) == name_key(fold("шахбуз"))


def test_a_russian_softened_consonant_meets_the_azerbaijani_spelling():
    # Russian writes Azerbaijani ə after a consonant as я: Гянджа, Кятик.
    assert name_key(fold("gəncə")) == name_key(fold("гянджа")) == name_key(fold("ganja"))
    assert name_key(fold("kətik")) == name_key(fold("кятик"))
    assert name_key(fold("qaryağdı")) == name_key(fold("карягды"))


def test_an_apostrophe_sets_a_suffix_apart_from_a_name_a_number_or_a_longer_word():
    text = "Şuşa'dan, 1992'de, şuşa'dan, Aghdam's road, Hocalı’nın; don't, we're, I'm; O'Brien"
    assert words(text) == [
        "Şuşa", "1992", "şuşa", "Aghdam", "road", "Hocalı", "don", "we", "I", "O", "Brien"
    ]  # fmt: skip
    # Azerbaijani as spelt in the 1990s: the apostrophe within the word goes, the word stays whole.
    assert words("mə'lumat, e'lan, tə'sir") == ["məlumat", "elan", "təsir"]
    assert query_forms("Şuşa'dan") == query_forms("Şuşa")
    assert terms(turkish_analyzer(), "Konya'yı Ankara'dan") == terms(turkish_analyzer(), "Konya Ankara")
    # A quotation in single quotes is no suffix: 'Şuşa' is the word between them.
    assert words("the 'Şuşa' road, 'yol'") == ["the", "Şuşa", "road", "yol"]


def test_only_capitalised_words_get_a_name_key_in_a_text():
    assert word_forms("Xocalı").name == name_key("xocali")
    assert word_forms("was").name is None


def test_a_query_word_always_gets_a_name_key():
    assert query_forms("khojaly").name == word_forms("Xocalı").name


def test_azerbaijani_analyzer_stems_the_real_word_with_turkish_rules():
    assert terms(azerbaijani_analyzer(), "evlərdən") == ["ev"]
    assert terms(azerbaijani_analyzer(), "qaçqınlar") == ["qaçqın"]


def test_azerbaijani_analyzer_reads_capital_i_as_dotless():
    assert terms(azerbaijani_analyzer(), "QIZ") == terms(azerbaijani_analyzer(), "qız") == ["qız"]


def test_turkish_analyzer_strips_case_suffixes():
    assert terms(turkish_analyzer(), "Şuşada") == ["şuşa"]
    assert terms(turkish_analyzer(), "İSTANBUL'DA") == ["istanbul", "da"]


def test_russian_analyzer_gives_each_form_its_lemma_in_cyrillic():
    assert terms(russian_analyzer(), "беженцев беженцы") == ["беженец", "беженец"]
    assert terms(russian_analyzer(), "Шуше Шушу") == ["шуша", "шуша"]


def test_english_analyzer_stems_inflections_together():
    assert terms(english_analyzer(), "evacuated evacuation") == ["evacu", "evacu"]


def test_multilingual_analyzer_folds_every_script_without_stemming():
    assert terms(multilingual_analyzer(), "Ağdamdan Ходжалы houses") == [
        "agdamdan",
        "xocali",
        "houses",
    ]


def test_numbers_are_words_but_the_numbers_of_a_timecode_or_a_clock_time_are_not():
    assert words("1993-cü il, ev 12, qutu A-17") == ["1993", "cü", "il", "ev", "12", "qutu", "A", "17"]
    assert words("[00:12:45.250] 12:30 saatda, 3.5 km") == ["saatda", "3", "5", "km"]


def test_a_stress_mark_does_not_split_a_word():
    assert words("Ко́уз и Ко́уза") == ["Коуз", "и", "Коуза"]
    assert query_forms("Ко́уза") == query_forms("Коуза")


def test_a_text_in_english_is_not_stemmed_as_turkish():
    assert stemmers_for(["en"]) == ("english",)
    assert analyze("houses", ["en"]).stems == [("hous", 0)]


def test_text_of_unknown_language_gets_every_latin_stem():
    assert {("ev", 0), ("evlerden", 0)} <= set(analyze("evlerden", None).stems)


def test_cyrillic_words_are_lemmatised_as_russian_whatever_the_languages():
    assert analyze("деревне", ["ru"]).stems == [("деревня", 0)]
    assert analyze("деревне", ["en"]).stems == [("деревня", 0)]
    # In a testimony in Azerbaijani and not Russian, a Cyrillic word may be either: read as both.
    assert ("деревня", 0) in analyze("деревне", ["az"]).stems
    assert analyze("деревне", ["az", "ru"]).stems == [("деревня", 0)]


def test_a_cyrillic_word_with_a_letter_of_azerbaijanis_own_is_read_as_azerbaijani():
    # "мәктәбдән" is "məktəbdən", from school: stemmed as the Latin word is, with no Russian lemma.
    assert {term for term, _ in analyze("мәктәбдән", ["az", "ru"]).stems} == {
        term for term, _ in analyze("məktəbdən", ["az"]).stems
    }


def test_folded_terms_keep_one_per_word_in_reading_order():
    assert analyze("Biz Ağdamdan getdik").folded == ["biz", "agdamdan", "getdik"]


def meets(query, text, languages=None):
    """Whether a one-word query finds the text's word by any of its forms, as the index's fields do."""
    forms, terms = query_forms(query), analyze(text, languages)
    return (
        forms.exact in terms.exact
        or forms.folded in terms.folded
        or bool(set(forms.stems) & {stem for stem, _ in terms.stems})
        or forms.name in {name for name, _ in terms.names}
    )


def test_a_turkish_word_is_stemmed_from_its_real_letters_and_found_without_them():
    assert meets("üst", "üstünde", ["tr"])
    assert meets("ustunde", "üstünde", ["tr"])


def test_a_word_typed_with_diacritics_does_not_find_another_that_folds_alike():
    assert meets("kış", "kışın", ["tr"])
    assert not meets("kış", "kişiyi", ["tr"])


def test_a_bare_word_ending_in_a_vowel_finds_its_inflected_forms():
    assert meets("mədrəsə", "mədrəsəyə", ["az"])
    assert meets("mədrəsəyə", "mədrəsə", ["az"])
    assert meets("otaq", "otağının", ["az"])


def test_a_verbs_dictionary_form_finds_its_conjugated_forms():
    assert meets("gəlmək", "gəlmişdilər", ["az"])
    assert meets("yazmaq", "yazdım", ["az"])
    assert meets("yazmak", "yazıyordu", ["tr"])
    assert meets("olmak", "olarak", ["tr"])


def test_a_noun_does_not_find_a_verb_that_begins_alike():
    assert not meets("ölüm", "olan", ["tr"])
    assert not meets("deniz", "de", ["tr"])


def test_a_lowercase_russian_name_finds_its_case_forms():
    assert meets("шуша", "в Шуше", ["ru"])
    assert meets("шуша", "про Шушу", ["ru"])


def test_words_that_only_transliterate_alike_do_not_meet_across_scripts():
    assert not meets("kon", "конь", None)
    assert not meets("oxu", "ох", None)


def test_a_name_meets_its_spellings_and_inflections_in_every_script():
    assert meets("Shusha", "Şuşada", ["az"])
    assert meets("Shusha", "Şuşadan", ["az"])
    assert meets("Shusha", "в Шуше", ["ru"])
    assert meets("Füzuli", "Физули", ["ru"])
    assert meets("Füzuli", "Füzulidən", ["az"])
    assert meets("Moskva", "в Москве", ["ru"])
