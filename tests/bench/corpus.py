"""A generated, clearly fictional multilingual corpus for benchmarks and bulk-import tests.

Each testimony is an API body of about `words` words in segments of about a minute, mostly in one of
Azerbaijani, Russian or English, with place names in several scripts. The words follow a Zipf-like
distribution over a vocabulary of common words and made-up rare ones, so that queries can be rare,
common, phrases or names. The same seed gives the same corpus.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Iterator

COMMON = {
    "az": "və bu bir biz o da ki ilə üçün sonra çox gecə qar meşə ev ana ata qardaş bacı uşaq yol "
    "kənd şəhər su çörək soyuq qış səhər axşam gün il ürək xatirə ad qonşu dost məktəb bağ dağ çay "
    "qapı pəncərə ayaq əl göz söz səs sükut ümid yuxu həyat torpaq".split(),
    "ru": "и в не на я мы он она что это как так но мы были ночь снег лес дом мама отец брат сестра "
    "дети дорога село город вода хлеб холод зима утро вечер день год сердце память имя сосед друг "
    "школа сад гора река дверь окно рука глаза слово голос тишина надежда сон жизнь земля".split(),
    "en": "the and we it was of to in that they my our night snow forest house mother father brother "
    "sister children road village town water bread cold winter morning evening day year heart "
    "memory name neighbour friend school garden mountain river door window hand eyes word voice "
    "silence hope sleep life land".split(),
}
PLACES = [
    ("Xocalı", "Khojaly", "Ходжалы"),
    ("Ağdam", "Aghdam", "Агдам"),
    ("Şuşa", "Shusha", "Шуша"),
    ("Bakı", "Baku", "Баку"),
    ("Əsgəran", "Askeran", "Аскеран"),
    ("Naxçıvanik", "Nakhchivanik", "Нахичеваник"),
    ("Qarqar", "Gargar", "Каркар"),
    ("Kətik", "Katik", "Кятик"),
]
FIRST = ["Aysel", "Rauf", "Gülnar", "Elmar", "Nərgiz", "Tofiq", "Sevil", "Anna", "Pavel", "Irina"]
LAST = ["Fictionova", "Imagined", "Xəyalova", "Vymyshlenko", "Storyteller", "Quillson"]
SUBJECTS = ["memory", "evacuation", "displacement", "winter", "family", "solidarity", "loss",
            "childhood", "search for relatives", "rebuilding", "return", "life before 1992"]  # fmt: skip
ACCESS = ["public"] * 14 + ["research"] * 3 + ["staff"] * 2 + ["sealed"]
SYLLABLES = {
    "az": ["qa", "lı", "mə", "rd", "şə", "gü", "nə", "xa", "ğı", "ço", "zə", "bü"],
    "ru": ["ка", "ло", "ми", "рн", "ше", "гу", "на", "ха", "жи", "чо", "зе", "бы"],
    "en": ["ka", "lo", "mi", "rn", "she", "gu", "na", "tha", "ji", "cho", "ze", "by"],
}


def vocabulary(lang: str, rng: random.Random, size: int) -> list[str]:
    """Common words first, then made-up words: their rank decides how often they are drawn."""
    words = list(COMMON[lang])
    seen = set(words)
    while len(words) < size:
        word = "".join(rng.choice(SYLLABLES[lang]) for _ in range(rng.randint(2, 4)))
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


def _zipf_weights(n: int) -> list[float]:
    return [1.0 / (rank + 1) for rank in range(n)]


def generate(count: int, words: int = 5000, seed: int = 1992) -> Iterator[dict]:
    rng = random.Random(seed)
    vocab = {lang: vocabulary(lang, rng, 20_000) for lang in COMMON}
    weights = _zipf_weights(20_000)
    for n in range(count):
        lang = ("az", "ru", "en")[n % 3]
        places = rng.sample(PLACES, 2)
        drawn = rng.choices(vocab[lang], weights=weights, k=words)
        # Names of places appear in the text in the script of the testimony's language.
        script = {"az": 0, "en": 1, "ru": 2}[lang]
        for i in range(0, words, 400):
            drawn[rng.randrange(i, min(i + 400, words))] = rng.choice(places)[script]
        segments, start, i = [], 0, 0
        while i < words:
            size = rng.randint(110, 150)
            length = rng.randint(50_000, 70_000)
            segments.append({"start_ms": start, "end_ms": start + length, "speaker": "Narrator",
                             "text": " ".join(drawn[i : i + size]), "keywords": []})  # fmt: skip
            start += length
            i += size
        access = rng.choice(ACCESS)
        consent = {"access": access, "publish_transcript": True, "publish_media": False,
                   "anonymize_narrator": rng.random() < 0.1, "signed_on": "2020-01-01",
                   "obtained_by": "Generated (fictional)", "notes": ""}  # fmt: skip
        if access == "sealed":
            consent.update(sealed_until="2040-01-01", release_to="public")
        name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        yield {
            "title": f"Generated testimony {n + 1} ({places[0][script]})",
            "summary": f"Fictional generated testimony for benchmarks, about {places[0][1]}.",
            "narrator": {
                "name": name,
                "pseudonym": f"Narrator {n + 1}",
                "birth_year": rng.randint(1925, 1988),
                "gender": None,
            },  # fmt: skip
            "interview": {
                "date": f"{rng.randint(1993, 2024)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}",
                "place": places[1][script],
                "interviewer": "Generated (fictional)",
                "languages": [lang],
            },  # fmt: skip
            "places": [p[0] for p in places],
            "subjects": rng.sample(SUBJECTS, 3),
            "segments": segments,
            "consent": consent,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("count", type=int)
    parser.add_argument("--words", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=1992)
    args = parser.parse_args()
    json.dump(list(generate(args.count, args.words, args.seed)), sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main()
