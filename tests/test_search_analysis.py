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


def test_only_capitalised_words_get_a_name_key_in_a_text():
    assert word_forms("Xocalı").name == "xocali"
    assert word_forms("was").name is None


def test_a_query_word_always_gets_a_name_key():
    assert query_forms("khojaly").name == "xocali"


def test_azerbaijani_analyzer_stems_with_folded_turkish_rules():
    assert terms(azerbaijani_analyzer(), "evlərdən") == ["ev"]
    assert terms(azerbaijani_analyzer(), "qaçqınlar") == terms(azerbaijani_analyzer(), "qacqinlar")


def test_azerbaijani_analyzer_reads_capital_i_as_dotless():
    assert terms(azerbaijani_analyzer(), "QIZ") == terms(azerbaijani_analyzer(), "qız") == ["qiz"]


def test_turkish_analyzer_strips_case_suffixes():
    assert terms(turkish_analyzer(), "Şuşada") == ["susa"]
    assert terms(turkish_analyzer(), "İSTANBUL'DA") == ["istanbul", "da"]


def test_russian_analyzer_stems_and_transliterates():
    assert terms(russian_analyzer(), "беженцев беженцы") == ["bejents", "bejents"]
    assert terms(russian_analyzer(), "Ходжалы") == ["xocal"]


def test_english_analyzer_stems_inflections_together():
    assert terms(english_analyzer(), "evacuated evacuation") == ["evacu", "evacu"]


def test_multilingual_analyzer_folds_every_script_without_stemming():
    assert terms(multilingual_analyzer(), "Ağdamdan Ходжалы houses") == [
        "agdamdan",
        "xocali",
        "houses",
    ]


def test_digits_are_not_words():
    assert terms(multilingual_analyzer(), "12:30 1993-cü il") == ["cu", "il"]


def test_a_text_in_english_is_not_stemmed_as_turkish():
    assert stemmers_for(["en"]) == ("english",)
    assert analyze("houses", ["en"]).stems == [("hous", 0)]


def test_text_of_unknown_language_gets_both_latin_stems():
    assert set(analyze("evlerden", None).stems) == {("ev", 0), ("evlerden", 0)}


def test_cyrillic_words_are_stemmed_as_russian_whatever_the_languages():
    assert analyze("деревне", ["az"]).stems == [("derevn", 0)]


def test_folded_terms_keep_one_per_word_in_reading_order():
    assert analyze("Biz Ağdamdan getdik").folded == ["biz", "agdamdan", "getdik"]
