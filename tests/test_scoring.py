"""The rules scorer, language detection, the lexicons and the JSONL scoring contract.

Every sentence here was written for these tests.
"""

from __future__ import annotations

import json
import random
import tomllib

import pytest

from repmon.models import CATEGORIES, LABELS, PRIORITIES
from scoring import SCORERS, get_scorer, lang, lexicon
from scoring.base import Assessment, Post
from scoring.jsonl import main as jsonl_main
from scoring.jsonl import score_jsonl
from scoring.rules import RulesScorer
from scoring.triage import TriageScorer
from scoring.vader import VaderScorer


@pytest.fixture(scope="module", params=["triage", "rules"])
def scorer(request) -> RulesScorer:
    """Every rule of "needs a response" holds for the default scorer and the rules-only one."""
    return get_scorer(request.param)


def one(scorer: RulesScorer, text: str, **kw) -> Assessment:
    return scorer.score([Post(id="p1", text=text, **kw)])[0]


# --- language detection ------------------------------------------------------------------

SENTENCES = {
    "en": "My parcel still has not arrived and nobody answers the phone.",
    "es": "Mi pedido todavía no ha llegado y nadie contesta al teléfono.",
    "ro": "Comanda mea nu a ajuns nici acum și nu răspunde nimeni la telefon.",
    "fa": "سفارش من هنوز نرسیده و پشتیبانی جواب نمیده.",
    "de": "Mein Paket ist immer noch nicht angekommen und niemand geht ans Telefon.",
    "fr": "Mon colis n'est toujours pas arrivé et personne ne répond au téléphone.",
    "pt": "Meu pedido ainda não chegou e ninguém atende o telefone.",
    "it": "Il mio pacco non è ancora arrivato e nessuno risponde al telefono.",
    "nl": "Mijn pakket is nog steeds niet aangekomen en niemand neemt de telefoon op.",
    "pl": "Moja paczka nadal nie dotarła i nikt nie odbiera telefonu.",
    "tr": "Siparişim hala gelmedi ve kimse telefona cevap vermiyor.",
    "ar": "طلبي لم يصل بعد ولا أحد يرد على الهاتف.",
}


@pytest.mark.parametrize("code", sorted(SENTENCES))
def test_detect_each_language(code):
    assert lang.detect(SENTENCES[code]) == code


def test_detect_many_matches_detect_and_keeps_order():
    codes = sorted(SENTENCES)
    assert lang.detect_many([SENTENCES[c] for c in codes]) == codes


@pytest.mark.parametrize("text", ["", "   ", "x", "ok!", "12345 !!!", "@acme https://example.com/x #deal", "Привет, как дела?"])
def test_detect_undetermined(text):
    assert lang.detect(text) == "und"


def test_handles_urls_hashtags_do_not_decide_the_language():
    text = "@the_best_shop #thankyou https://example.com/the/and/you Das Paket ist leider nicht angekommen"
    assert lang.detect(text) == "de"


def test_persian_fast_path_needs_no_lingua(monkeypatch):
    monkeypatch.setattr(lang, "_lingua", lambda *a: pytest.fail("lingua called"))
    assert lang.detect("کیفیت خیلی پایین بود") == "fa"
    assert lang.detect_many(["پیک خیلی دیر رسید", "ممنون، عالی بود"]) == ["fa", "fa"]


def test_lingua_fallback_for_text_without_function_words():
    # no function word of any language: the fast path cannot decide, lingua does
    assert lang._fast("Kundenservice katastrophal, Lieferung verspaetet")[0] is None
    assert lang.detect("Kundenservice katastrophal, Lieferung verspaetet") == "de"


def test_batch_prior_takes_the_batch_language_for_weak_evidence():
    batch = [SENTENCES["de"]] * 5 + ["Absolut katastrophal, Lieferung verspätet"]
    assert lang.detect_many(batch)[-1] == "de"


def test_language_detection_reads_only_the_head_of_a_long_text():
    assert lang.head("word " * 1000).endswith("word") and len(lang.head("word " * 1000)) <= lang.MAX_DETECT_CHARS
    assert lang.head("a" * 5000) == "a" * lang.MAX_DETECT_CHARS  # no word boundary to cut at
    assert lang.head(SENTENCES["de"]) == SENTENCES["de"]


@pytest.mark.parametrize("text", ["a" * 200_000, "Kundenservice katastrophal " * 8_000])
def test_a_huge_post_is_scored_and_gets_a_language(scorer, text):
    # lingua alone needs ~20 s for 120,000 characters of one letter; only the head is read
    a = one(scorer, text)
    assert a.lang in lang.SUPPORTED + ("und",)


# --- the contract ------------------------------------------------------------------------

def test_registry():
    assert set(SCORERS) == {"triage", "rules", "vader"}
    assert isinstance(get_scorer(), TriageScorer)
    assert isinstance(get_scorer("rules"), RulesScorer)
    assert isinstance(get_scorer("vader"), VaderScorer)
    assert get_scorer("rules", high_reach=5).high_reach == 5
    with pytest.raises(ValueError, match="unknown scorer"):
        get_scorer("nope")


def test_output_always_valid(scorer):
    rnd = random.Random(7)
    words = ("late refund great thanks broken never arrived ? ! @acme #fail http://x.y/z "
             "عالی خراب pedido llegó Paket kaputt merci nul 😡 🙂 :( sue idiot follow me promo code").split()
    posts = [Post(id=str(i), text=" ".join(rnd.choice(words) for _ in range(rnd.randint(0, 12))),
                  rating=rnd.choice([None, 1, 2, 3, 4, 5]), author_reach=rnd.choice([0, 50000]),
                  is_own=rnd.random() < 0.1, brand_terms=rnd.choice([(), ("acme",)]))
             for i in range(300)]
    out = scorer.score(posts)
    assert [a.id for a in out] == [p.id for p in posts]
    for a in out:
        assert a.label in LABELS and a.priority in PRIORITIES and a.category in CATEGORIES
        assert -1.0 <= a.sentiment <= 1.0
        assert (a.priority == "low") == (not a.needs_response)
        assert all(isinstance(r, str) and r for r in a.reasons)


def test_empty_batch(scorer):
    assert scorer.score([]) == []


def test_given_lang_is_used(scorer):
    a = one(scorer, "Mein Paket ist kaputt angekommen", lang="de")
    assert a.lang == "de" and a.needs_response
    assert one(scorer, "Paket kaputt", lang="de-AT").lang == "de"
    assert one(scorer, "It broke", lang="EN_us").lang == "en"
    assert one(scorer, "Tengo un problema", lang="sv").lang == "sv"  # no lexicon: English rules + VADER


# --- the needs-response rules, per language ----------------------------------------------

COMPLAINTS = {
    "en": "I was charged twice for my order and it still hasn't arrived.",
    "es": "Me cobraron dos veces y el pedido todavía no ha llegado, qué vergüenza.",
    "ro": "Comanda nu a ajuns nici acum și m-ați taxat de două ori, e o bătaie de joc.",
    "fa": "دو بار پول کم شد و سفارشم هنوز نرسیده، واقعا افتضاحه.",
    "de": "Zweimal abgebucht und die Bestellung ist immer noch nicht angekommen. Eine Frechheit.",
    "fr": "Prélevé deux fois et ma commande n'est toujours pas arrivée, c'est inadmissible.",
    "pt": "Fui cobrado duas vezes e o pedido ainda não chegou, que vergonha.",
    "it": "Addebitato due volte e il pacco non è ancora arrivato, una vergogna.",
    "nl": "Twee keer afgeschreven en mijn bestelling is nog steeds niet aangekomen, schandalig.",
    "tr": "İki kez çekildi ve siparişim hala gelmedi, rezalet.",
    "pl": "Pobrali dwa razy, a paczka nadal nie dotarła. Skandal.",
}

PRAISE = {
    "en": "Thank you so much, the support team sorted everything out in minutes!",
    "es": "Muchas gracias, el pedido llegó rápido y todo perfecto.",
    "ro": "Mulțumesc frumos, comanda a ajuns rapid și totul este perfect.",
    "fa": "خیلی ممنون، سفارش سریع رسید و همه چیز عالی بود.",
    "de": "Vielen Dank, die Lieferung kam schnell und alles ist super.",
    "fr": "Merci beaucoup, livraison rapide et tout est parfait.",
    "pt": "Muito obrigado, a entrega foi rápida e tudo perfeito.",
    "it": "Grazie mille, consegna veloce e tutto perfetto.",
    "nl": "Heel erg bedankt, snel geleverd en alles is perfect.",
    "tr": "Çok teşekkürler, sipariş hızlı geldi ve her şey mükemmel.",
    "pl": "Dziękuję bardzo, przesyłka szybko dotarła i wszystko super.",
}

QUESTIONS = {
    "en": "How can I change the delivery address for an order?",
    "es": "¿Cómo puedo cambiar la dirección de entrega?",
    "ro": "Cum pot schimba adresa de livrare?",
    "fa": "چطور میتونم آدرس ارسال رو عوض کنم؟",
    "de": "Wie kann ich die Lieferadresse ändern?",
    "fr": "Comment puis-je changer l'adresse de livraison ?",
    "pt": "Como posso mudar o endereço de entrega?",
    "it": "Come posso cambiare l'indirizzo di consegna?",
    "nl": "Hoe kan ik het bezorgadres wijzigen?",
}

THREATS = {
    "en": "Refund me by Friday or else I will leak your customer list. Pay me or you'll regret it.",
    "es": "Si no me pagan publicaré todo, esto es un chantaje y os vais a enterar.",
    "ro": "Dacă nu plătiți până mâine, o să public tot. Știu unde lucrați.",
    "fa": "اگه پول ندید آبروتونو میبرم و همه چیز رو پخش میکنم.",
    "de": "Wenn ihr nicht zahlt, veröffentliche ich alles. Das werdet ihr bereuen.",
    "fr": "Si vous ne payez pas je vais publier vos données, vous allez le regretter.",
    "pt": "Se não pagarem vou divulgar tudo, vocês vão ver.",
}


@pytest.mark.parametrize("code", sorted(COMPLAINTS))
def test_complaint_needs_response(scorer, code):
    a = one(scorer, COMPLAINTS[code])
    assert a.lang == code
    assert a.needs_response and a.label == "negative", a
    assert a.sentiment < 0
    assert a.priority in ("medium", "high")
    assert a.category in ("billing", "delivery"), a
    assert any(r.startswith("negative:") for r in a.reasons) and "brand-directed" in a.reasons


@pytest.mark.parametrize("code", sorted(PRAISE))
def test_praise_needs_no_response(scorer, code):
    a = one(scorer, PRAISE[code])
    assert a.lang == code
    assert not a.needs_response and a.label == "positive", a
    assert a.priority == "low" and a.category == "praise"


@pytest.mark.parametrize("code", sorted(QUESTIONS))
def test_question_needs_response(scorer, code):
    a = one(scorer, QUESTIONS[code])
    assert a.needs_response, a
    assert "question" in a.reasons and a.category == "question", a
    assert a.label != "negative" and a.priority == "medium"


def test_statement_with_question_word_but_no_question_mark_is_not_a_question(scorer):
    a = one(scorer, "I know how the new store layout works now.")
    assert not a.needs_response and "question" not in a.reasons


@pytest.mark.parametrize("code,text", [
    ("en", "please help, I need to update my card details"),
    ("es", "Por favor, ayúdenme con la factura"),
    ("de", "Bitte meldet euch bei mir wegen der Rechnung"),
])
def test_request_without_question_mark_needs_response(scorer, code, text):
    a = one(scorer, text)
    assert a.needs_response and "question" in a.reasons


@pytest.mark.parametrize("code", sorted(THREATS))
def test_threat_is_critical_abuse(scorer, code):
    a = one(scorer, THREATS[code])
    assert a.needs_response and a.priority == "critical", a
    assert a.category == "abuse" and "threat" in a.reasons
    assert a.label == "negative"


@pytest.mark.parametrize("text", [
    "If this is not fixed by Monday my lawyer will be in touch.",
    "Voy a poner una denuncia en consumo, hablaré con mi abogado.",
    "Ich schalte jetzt meinen Anwalt ein und gehe zur Verbraucherzentrale.",
    "Vou processar vocês e abrir reclamação no Procon.",
    "شکایت میکنم و از طریق قانونی پیگیری میکنم.",
])
def test_legal_is_critical(scorer, text):
    a = one(scorer, text)
    assert a.needs_response and a.priority == "critical" and "legal" in a.reasons, a
    assert a.label == "negative"


def test_insult_is_abuse(scorer):
    a = one(scorer, "You idiots lost my parcel again")
    assert a.needs_response and a.category == "abuse" and "abuse" in a.reasons
    assert a.priority == "high"


@pytest.mark.parametrize("rating,text", [
    (1, "It arrived."),
    (2, "Okay I guess."),
    (1, "Llegó."),
])
def test_low_rating_review_needs_response(scorer, rating, text):
    a = one(scorer, text, rating=rating, platform="trustpilot")
    assert a.needs_response and a.label == "negative"
    assert f"rating:{rating}" in a.reasons
    assert a.priority == ("high" if rating == 1 else "medium")


def test_good_rating_review_needs_no_response(scorer):
    a = one(scorer, "Arrived on time.", rating=5)
    assert not a.needs_response and a.label == "positive"


@pytest.mark.parametrize("text", [
    "Great, another delay. Thanks a lot",
    "Oh great, my order is late again. Just what I needed.",
    "Genial, otro retraso. Gracias por nada.",
    "Na toll, wieder Verspätung. Danke für nichts.",
])
def test_sarcasm_is_negative(scorer, text):
    a = one(scorer, text)
    assert a.label == "negative" and a.needs_response, a
    assert "sarcasm" in a.reasons


def test_plain_thanks_is_not_sarcasm(scorer):
    a = one(scorer, "Thanks a lot for the quick reply!")
    assert a.label == "positive" and not a.needs_response and "sarcasm" not in a.reasons


@pytest.mark.parametrize("text", [
    "OtherCo lost my parcel again, worst courier ever.",
    "OtherCo ha perdido mi paquete otra vez, un desastre.",
    "Mit OtherCo ist das Paket schon wieder verloren, eine Katastrophe.",
])
def test_competitor_only_negativity_needs_no_response(scorer, text):
    a = one(scorer, text, brand_terms=("Acme", "@acme"), competitor_terms=("OtherCo",))
    assert not a.needs_response and "competitor-only" in a.reasons
    assert a.label == "negative" and a.priority == "low"


def test_competitor_and_brand_mentioned_is_ours(scorer):
    a = one(scorer, "@acme switched from OtherCo and now my parcel is lost, terrible",
            brand_terms=("acme",), competitor_terms=("OtherCo",))
    assert a.needs_response and "brand-directed" in a.reasons


def test_brand_terms_decide_brand_direction(scorer):
    post = dict(brand_terms=("acme",))
    assert one(scorer, "Acme's courier broke my lamp, terrible", **post).needs_response
    assert one(scorer, "#acme courier broke my lamp, terrible", **post).needs_response
    # negative, but about nothing of ours
    a = one(scorer, "My neighbour's dog broke my lamp, terrible", **post)
    assert not a.needs_response and a.label == "negative"
    # without brand terms every post is treated as brand-directed
    assert one(scorer, "My neighbour's dog broke my lamp, terrible").needs_response


def test_reviews_are_brand_directed(scorer):
    a = one(scorer, "The lamp broke after a day, terrible quality.", platform="trustpilot", brand_terms=("acme",))
    assert a.needs_response


@pytest.mark.parametrize("text", [
    "Our service is down in the north region, engineers are on it. Sorry for the trouble!",
    "Lo sentimos, hay retrasos en las entregas de hoy.",
])
def test_own_posts_need_no_response(scorer, text):
    a = one(scorer, text, is_own=True)
    assert not a.needs_response and "own-post" in a.reasons and a.priority == "low"


@pytest.mark.parametrize("text", [
    "Follow me for free followers!! Use promo code WIN50 https://spam.example/a",
    "Terrible day? Make money from home, click here https://spam.example/b #money #win #rich",
    "#deal #sale #win #free #gift #promo #shop https://a.example https://b.example https://c.example",
    "Sígueme y usa el código promocional GANA10 https://spam.example/c",
])
def test_spam_needs_no_response(scorer, text):
    a = one(scorer, text)
    assert not a.needs_response and "spam" in a.reasons


@pytest.mark.parametrize("text,kw", [
    ("Acme shares fell 8% after the outage, according to analysts https://news.example/acme", {}),
    ("Acme recorta 300 empleos, según la prensa local https://noticias.example/a", {}),
    ("Acme-Aktie fällt nach Störung, laut Bericht https://boerse.example/acme", {}),
    ("به گزارش خبرگزاری، اختلال شبکه Acme دیروز رفع شد https://news.example/fa", {}),
    ("Acme outage leaves thousands without service", {"platform": "rss"}),
])
def test_news_that_only_names_the_brand_needs_no_response(scorer, text, kw):
    a = one(scorer, text, brand_terms=("Acme",), **kw)
    assert not a.needs_response and "news" in a.reasons and a.priority == "low"


def test_a_customer_sharing_a_news_link_with_a_question_is_not_news(scorer):
    a = one(scorer, "@acme according to this you were down all night?? will I get a credit? https://news.example/x",
            brand_terms=("acme",))
    assert a.needs_response and "news" not in a.reasons


def test_customer_mentioning_a_promo_code_is_not_spam(scorer):
    a = one(scorer, "The promo code from your email doesn't work at checkout, can you help?")
    assert a.needs_response and "spam" not in a.reasons


def test_high_reach_raises_priority(scorer):
    text = "Your app lost my order and support never answered. Terrible."
    low = one(scorer, text, author_reach=120)
    high = one(scorer, text, author_reach=52000)
    assert low.priority == "medium" and high.priority == "high"
    assert "high-reach:52000" in high.reasons
    assert one(RulesScorer(high_reach=100), text, author_reach=120).priority == "high"


def test_outage_is_high_priority(scorer):
    a = one(scorer, "The app is down again and there is no internet since this morning.")
    assert a.needs_response and a.category == "outage" and a.priority == "high"


@pytest.mark.parametrize("text,category", [
    ("I was charged twice and I still have no refund", "billing"),
    ("My package never arrived, the tracking says delivered", "delivery"),
    ("The screen cracked after one day and the battery is faulty", "defect"),
    ("I waited on hold for an hour and the agent was rude", "service"),
    ("I can't log in, my account is locked out and the password reset fails", "account"),
    ("No signal and no internet since yesterday, the network is down", "outage"),
    ("Pedido no llegó, el repartidor nunca vino", "delivery"),
    ("Rechnung falsch, zweimal abgebucht", "billing"),
    ("پشتیبانی جواب نمیده و برخورد اپراتور افتضاح بود", "service"),
])
def test_categories(scorer, text, category):
    a = one(scorer, text)
    assert a.needs_response and a.category == category, a


def test_negation_and_contrast(scorer):
    assert one(scorer, "Das Essen war nicht gut.").label == "negative"
    assert one(scorer, "غذا اصلا خوب نبود").label == "negative"
    assert one(scorer, "No está nada mal, me gusta.", lang="es").label != "negative"
    # the part after "but" weighs more
    assert one(scorer, "Zuerst war alles gut, aber dann kam das Paket kaputt an.").label == "negative"
    assert one(scorer, "Die Lieferung war langsam, aber der Service war super freundlich.").label == "positive"


def test_thresholds_are_constructor_options():
    text = "The parcel arrived a bit late."
    s = one(RulesScorer(), text).sentiment
    strict = RulesScorer(negative_threshold=s - 0.01, positive_threshold=0.9)
    a = one(strict, text)
    assert a.label == "neutral" and not a.needs_response


def test_emoji_count_in_other_languages(scorer):
    assert one(scorer, "Paket angekommen 😍😍").label == "positive"
    assert one(scorer, "Paket angekommen 😞😞").label == "negative"


# --- internals worth pinning -------------------------------------------------------------

VADER_SENTENCES = [
    "The staff was VERY helpful!!! :)", "not good, not bad", "I don't like it but the price is great",
    "kind of okay I guess", "no problem at all", "Worst. Service. Ever.", "nothing", "", "   ",
    "The package never came?!? What a joke :(", "I love it 😍 but the box was damaged 😡",
    "At least it works", "it is the shit", "Not the best, yet not the worst either", "HELP ME PLEASE",
]


def test_fast_vader_compound_equals_vader():
    compound = lexicon._vader_compound()
    analyzer = lexicon._vader()
    for text in VADER_SENTENCES:
        assert compound(text) == analyzer.polarity_scores(text)["compound"], text


def test_vader_neutral_words_only_in_the_rules_copy():
    assert "please" not in lexicon._vader().lexicon
    assert "please" in VaderScorer()._vader.lexicon


REQUIRED_KEYS = ("negative", "positive", "negators", "intensifiers", "question", "request", "threat",
                 "legal", "abuse", "sarcasm", "spam", "categories")


@pytest.mark.parametrize("code", ["en", "es", "ro", "fa", "de", "fr", "pt", "it", "nl", "tr", "pl"])
def test_lexicon_files(code):
    with open(lexicon.LEXICON_DIR / f"{code}.toml", "rb") as f:
        data = tomllib.load(f)
    for key in REQUIRED_KEYS:
        assert data.get(key), f"{code}.toml: {key} missing or empty"
    assert set(data["categories"]) >= {"delivery", "billing", "defect", "service", "account", "outage"}
    for key, phrases in [(k, v) for k, v in data.items() if isinstance(v, list)] + list(data["categories"].items()):
        for p in phrases:
            assert p == p.strip() and p == p.lower(), f"{code}.{key}: {p!r}"
            assert "*" not in p.rstrip("*"), f"{code}.{key}: wildcard only at the end: {p!r}"
            assert len(lexicon._SEP.sub("", p.rstrip("*"))) >= 2, f"{code}.{key}: too short: {p!r}"
    assert lexicon.load_lexicon(code) is not None


def test_cueset_longest_match_wildcards_and_inherited_kinds():
    cues = lexicon.CueSet({"negative": ["never arrived", "not working"], "positive": ["working"],
                         "cat:billing": ["refund*"], "cat:delivery": ["arriv*"]}, "en")
    found = [(m[0], set(m[2])) for m in cues.find("it never arrived, refunded? still not working")]
    assert found == [(3, {"negative", "cat:delivery"}), (18, {"cat:billing"}), (34, {"negative"})]
    assert cues.find("@refund me") == []  # words inside @handles are not cues


@pytest.mark.parametrize("code", ["x" * 300, "en/../en", "", "EN", "e n", "ünü"])
def test_implausible_language_codes_have_no_lexicon(code):
    assert lexicon.load_lexicon(code) is None  # a 300-letter code used to raise "file name too long"


def test_a_post_with_a_300_letter_language_code_is_scored(scorer):
    assert one(scorer, "My parcel never arrived", lang="x" * 300).lang == "x" * 300


def test_persian_normalisation():
    assert lexicon.normalize("نمی‌رسه", "fa") == lexicon.normalize("نمی رسه", "fa") == "نمیرسه"
    assert lexicon.normalize("خيلي خوبببب", "fa") == "خیلی خوب"


def test_vader_scorer_is_plain_vader():
    v = VaderScorer()
    bad, good = v.score([Post(id="1", text="This is terrible"), Post(id="2", text="This is great")])
    assert bad.label == "negative" and bad.needs_response and bad.priority == "medium"
    assert good.label == "positive" and not good.needs_response and good.priority == "low"


# --- JSONL contract ----------------------------------------------------------------------

def write_lines(path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_score_jsonl_roundtrip(tmp_path):
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    rows = [
        {"id": 7, "text": "My parcel never arrived and nobody answers."},
        {"id": "abc", "text": "سفارش خیلی دیر رسید", "lang": "fa"},
        {"id": "r1", "text": "Terrible.", "rating": 1, "platform": "trustpilot", "author": "x"},
        {"id": 8, "text": "Danke, alles super!"},
    ]
    write_lines(inp, [json.dumps(rows[0]), "", json.dumps(rows[1], ensure_ascii=False), "   ",
                      json.dumps(rows[2]), json.dumps(rows[3])])
    seen = []
    n = score_jsonl(str(inp), str(out), get_scorer("rules"), batch_size=3, progress=seen.append)
    assert n == 4 and seen == [3, 4]
    raw = out.read_text(encoding="utf-8")
    assert "\\u" not in raw  # ensure_ascii=False
    got = [json.loads(line) for line in raw.splitlines()]
    assert [g["id"] for g in got] == [7, "abc", "r1", 8]  # order kept, ids echoed as given
    for g in got:
        assert set(g) == {"id", "lang", "sentiment", "label", "needs_response", "priority", "category", "reasons"}
    assert got[0]["needs_response"] and got[1]["lang"] == "fa" and got[1]["needs_response"]
    assert "rating:1" in got[2]["reasons"] and got[3]["label"] == "positive" and got[3]["lang"] == "de"


def test_score_jsonl_keeps_non_ascii_as_is(tmp_path):
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_lines(inp, [json.dumps({"id": "پست-۱", "text": "عالی بود"}, ensure_ascii=False)])
    score_jsonl(str(inp), str(out), get_scorer("rules"))
    assert '"پست-۱"' in out.read_text(encoding="utf-8")


def test_score_jsonl_escapes_what_other_readers_take_for_line_breaks(tmp_path):
    """U+0085, U+2028 and U+2029 are line breaks to str.splitlines and to JavaScript: kept
    raw, one output row would read as two."""
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    ids = ["a\x85b", "c\u2028d", "e\u2029f"]
    write_lines(inp, [json.dumps({"id": i, "text": "late again"}, ensure_ascii=False) for i in ids])
    assert score_jsonl(str(inp), str(out), get_scorer("rules")) == 3
    rows = out.read_text(encoding="utf-8").splitlines()
    assert [json.loads(r)["id"] for r in rows] == ids


@pytest.mark.parametrize("line,message", [
    ('{"id": 3}', "missing 'text'"),
    ('{"text": "hi"}', "missing 'id'"),
    ('{"id": 3, "text": "hi"', "not valid JSON"),
    ('[1, 2]', "not a JSON object"),
    ('{"id": 3, "text": 5}', "'text' must be a string"),
    ('{"id": [3], "text": "hi"}', "'id' must be a string or an integer"),
    ('{"id": 3, "text": "hi", "rating": "five"}', "'rating' must be a number"),
])
def test_score_jsonl_errors_name_the_line(tmp_path, line, message):
    inp, out = tmp_path / "IN.jsonl", tmp_path / "out.jsonl"
    write_lines(inp, ['{"id": 1, "text": "fine"}', "", line])
    with pytest.raises(ValueError) as err:
        score_jsonl(str(inp), str(out), get_scorer("vader"))
    assert str(err.value) == f"{inp} line 3: {message}"


def test_cli(tmp_path, capsys):
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_lines(inp, [json.dumps({"id": 1, "text": "It broke after a day, useless."})])
    assert jsonl_main(["--input", str(inp), "--output", str(out)]) == 0
    assert json.loads(out.read_text())["needs_response"] is True
    assert jsonl_main(["--input", str(inp), "--output", str(out), "--scorer", "vader"]) == 0
    write_lines(inp, ['{"id": 1}'])
    assert jsonl_main(["--input", str(inp), "--output", str(out)]) == 2
    assert f"{inp} line 1: missing 'text'" in capsys.readouterr().err


@pytest.mark.parametrize("text", [
    "Waited two hours on hold just to be cut off. Amazing.",
    "Tres horas en espera y se corta la llamada. Genial. 😡",
    "سه ساعت پشت خط ماندم و تماس قطع شد. واقعا عالیه.",
])
def test_short_praise_after_a_complaint_is_sarcasm(scorer, text):
    a = one(scorer, text)
    assert a.label == "negative" and a.needs_response and "sarcasm" in a.reasons, a


def test_question_mark_with_brand_mention_is_a_question(scorer):
    a = one(scorer, "Hat Acme in Köln schon 5G oder nur im Zentrum?", brand_terms=("acme",))
    assert a.needs_response and "question" in a.reasons and a.category == "question"
    # the same shape without our brand is nobody's question to us
    assert not one(scorer, "Hat Orbit in Köln schon 5G oder nur im Zentrum?", brand_terms=("acme",)).needs_response


def test_negated_complaint_word_does_not_turn_positive(scorer):
    a = one(scorer, "The SIM doesn't work, 'not provisioned' error again.")
    assert a.label == "negative" and a.needs_response


# --- the shipped model -------------------------------------------------------------------

def test_shipped_model_matches_the_training_data():
    """scoring/models/base.npz must be rebuilt whenever scoring/training/ changes."""
    from scoring.model import fingerprint
    from scoring.train_base import training_rows
    from scoring.triage import base_model

    rows = training_rows()
    assert base_model().meta["data"] == fingerprint(r["text"] for r in rows), \
        "the training data changed: run python -m scoring.train_base"


def test_training_data_is_well_formed_and_covers_every_language():
    from scoring.model import HEADS
    from scoring.train_base import training_rows

    rows = training_rows()
    by_lang: dict[str, set] = {}
    for r in rows:
        assert set(r) >= {"text", "label", "needs_response", "category"}, r["where"]
        assert r["label"] in HEADS["label"] and r["category"] in HEADS["category"], r["where"]
        by_lang.setdefault(r["lang"], set()).add(r["label"])
    assert set(by_lang) == {"en", "es", "ro", "fa", "de", "fr", "pt", "it", "nl", "pl", "tr"}
    assert all(labels == {"negative", "neutral", "positive"} for labels in by_lang.values())
    assert len({r["text"] for r in rows}) == len(rows), "duplicate training posts"


def test_model_round_trip_and_fit_learns():
    from scoring.model import Example, Model, fit

    exs = [Example(["*", "w:bad"], {"label": "negative", "category": "defect"}),
           Example(["*", "w:good"], {"label": "positive", "category": "praise"}),
           Example(["*", "w:when"], {"label": "neutral"})] * 5
    model = fit(exs, min_count=1, epochs=80)
    again = Model.from_bytes(model.to_bytes())
    p = again.predict([["*", "w:bad"], ["*", "w:good"], ["w:unknown"]])
    assert [again.heads["label"][i] for i in p["label"][:2].argmax(axis=1)] == ["negative", "positive"]
    assert again.heads["category"][p["category"][0].argmax()] == "defect"
    assert p["label"].shape == (3, 3)  # unknown features still get the prior ("*")


def test_triage_reasons_name_the_model(scorer):
    a = one(scorer, "@acme my parcel never arrived and nobody answers")
    assert a.needs_response
    if scorer.name == "triage":
        assert any(r.startswith("model:base:") for r in a.reasons)


def test_negative_bias_moves_the_threshold():
    posts = [Post(id=str(i), text=t) for i, t in enumerate(
        ["the update changed the menu", "delivery was ok I guess", "app is slow today"])]
    flagged = [sum(a.needs_response for a in get_scorer("triage", negative_bias=b).score(posts)) for b in (-3, 0, 3)]
    assert flagged[0] <= flagged[1] <= flagged[2] and flagged[0] < flagged[2]
