"""Suggested replies follow the playbook, and the checker catches replies that do not."""

import tomllib
from functools import cache
from importlib.resources import files

import pytest

from repmon.errors import ConfigError
from repmon.models import CATEGORIES, PRIORITIES
from repmon.replies import check, suggest

LANGS = ("en", "es", "ro", "fa", "de", "fr", "pt", "it")
COMMON = ("delivery", "billing", "defect", "service")
EVERY_REMEDY = {"refund": True, "replacement": True, "voucher": True}
CHECKER_KEYS = ("stopwords", "acknowledgement", "next_step", "private", "personal_data",
                "blame", "expectation", "threat")

# Written here rather than read from the data files, so a data edit cannot hide a refund offer.
REFUND_WORDS = {
    "en": ["refund", "money back", "reimburs"],
    "es": ["reembols", "devolvemos el dinero", "devolvemos el importe", "te devolvemos"],
    "pt": ["reembols", "estorn", "devolver o seu dinheiro"],
    "fr": ["rembours"],
    "de": ["erstatt", "geld zurück"],
    "it": ["rimbors"],
    "ro": ["ramburs", "returnăm"],
    "fa": ["بازمی\u200cگردان", "بازگردان", "استرداد", "بازپرداخت"],
}
THREATS = {
    "en": "Refund me or I post everywhere that you are thieves.",
    "es": "Devolvedme el dinero o lo publico en todas partes.",
    "fa": "پولم را برگردانید وگرنه همه جا پخش می\u200cکنم که دزد هستید.",
}


@cache
def data(lang: str) -> dict:
    return tomllib.loads((files("repmon.data") / "replies" / f"{lang}.toml").read_text("utf-8"))


def offer_words(lang: str) -> list[str]:
    return [w for words in data(lang)["checker"]["offers"].values() for w in words]


@pytest.mark.parametrize("lang", LANGS)
def test_every_category_priority_and_seed_passes_the_checker_on_x(lang):
    for category in CATEGORIES:
        for priority in PRIORITIES:
            for seed in range(3):
                s = suggest(post_text="", lang=lang, category=category, platform="x",
                            author="@maria_r", brand="Acme", priority=priority, seed=seed)
                assert s.violations == [], (s.template_id, s.text)
                assert s.lang == lang and s.template_id.startswith(f"{lang}/{category}/")
                assert len(s.text) <= 280 and s.text.startswith("@maria_r ")
                if category != "praise":
                    assert data(lang)["expectation"][priority] in s.text


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("platform", ["x", "trustpilot"])
def test_every_remedy_and_echoed_noun_still_fits_and_passes(lang, platform):
    posts = [""] + [cue for cues in data(lang).get("problem_detail", {}).values() for cue in cues]
    for category in CATEGORIES:
        for post in posts:
            for seed in range(4):
                s = suggest(post_text=post, lang=lang, category=category, platform=platform,
                            author="abcdefghijklmno", brand="Acme", priority="low",
                            policy=EVERY_REMEDY, seed=seed)
                assert s.violations == [], (s.template_id, s.text)


@pytest.mark.parametrize("lang", LANGS)
def test_a_reply_checked_against_another_language_is_wrong_language(lang):
    for category in ("billing", "abuse", "praise"):
        text = suggest(post_text="", lang=lang, category=category, platform="x").text
        for other in LANGS:
            found = check(text, lang=other, category=category, platform="x")
            assert ("wrong_language" in found) == (other != lang), (other, text)


def test_handle_prefix_on_mention_platforms_but_not_on_review_sites():
    for platform in ("x", "mastodon"):
        s = suggest(post_text="", lang="es", category="delivery", platform=platform, author="maria_r")
        assert s.text.startswith("@maria_r Hola,")
    for platform in ("google_play", "app_store", "trustpilot"):
        s = suggest(post_text="", lang="es", category="delivery", platform=platform, author="maria_r")
        assert "maria_r" not in s.text and s.text.startswith("Hola,")
    s = suggest(post_text="", lang="en", category="delivery", platform="facebook", author="@maria_r")
    assert s.text.startswith("Hi maria_r,")


@pytest.mark.parametrize("lang", LANGS)
def test_billing_never_offers_a_refund_the_policy_does_not_allow(lang):
    texts = {refund: [suggest(post_text="I was charged twice", lang=lang, category="billing",
                              platform=platform, priority="high", policy={"refund": refund}, seed=seed)
                      for platform in ("x", "trustpilot") for seed in range(4)]
             for refund in (False, True)}
    for s in texts[False]:
        assert not any(w in s.text.lower() for w in REFUND_WORDS[lang]), s.text
        assert s.violations == []
    assert any(any(w in s.text.lower() for w in REFUND_WORDS[lang]) for s in texts[True])
    assert all(s.violations == [] for s in texts[True])


def test_remedy_follows_policy_and_is_the_same_for_every_seed():
    no = [suggest(post_text="", lang="en", category="service", platform="x", seed=s) for s in range(3)]
    yes = [suggest(post_text="", lang="en", category="service", platform="x",
                   policy={"voucher": True}, seed=s) for s in range(3)]
    assert not any("voucher" in s.text for s in no)
    assert all("voucher" in s.text for s in yes)
    s = suggest(post_text="", lang="de", category="defect", platform="x",
                policy={"replacement": True, "refund": True})
    assert "Ersatz" in s.text and "erstatt" not in s.text


@pytest.mark.parametrize("lang", sorted(THREATS))
@pytest.mark.parametrize("category", ["abuse", "billing"])
def test_a_threat_gets_a_calm_boundary_reply_that_concedes_nothing(lang, category):
    for seed in range(3):
        s = suggest(post_text=THREATS[lang], lang=lang, category=category, platform="x",
                    author="@angry_user", priority="critical", policy=EVERY_REMEDY, seed=seed)
        assert s.template_id.startswith(f"{lang}/abuse/")
        assert s.violations == []
        assert check(s.text, lang=lang, category="abuse", platform="x", post_text=THREATS[lang]) == []
        assert not any(w in s.text.lower() for w in offer_words(lang) + REFUND_WORDS[lang]), s.text
    assert "sorry" not in suggest(post_text=THREATS["en"], lang="en", category="abuse", platform="x").text.lower()


def test_checker_sees_a_threat_in_the_post_even_when_the_category_is_not_abuse():
    reply = "Hi, we're sorry. We'll refund you right away; DM us and we'll reply within the hour."
    assert check(reply, lang="en", category="billing", platform="x") == []
    assert check(reply, lang="en", category="billing", platform="x",
                 post_text=THREATS["en"]) == ["concedes_to_threat", "no_escalation"]


def test_praise_with_words_that_look_like_a_threat_still_gets_a_thank_you():
    s = suggest(post_text="Best support ever, I post everywhere how good you are!", lang="en",
                category="praise", platform="x")
    assert s.template_id.startswith("en/praise/") and s.violations == []


BAD_REPLIES = [
    ("en", "billing", "Hi, this is your fault, you should have read the terms. DM us, we reply within the hour. Sorry!", "blame"),
    ("en", "delivery", "Sorry about the delay! Reply here with your order number and home address, we'll check within the hour.", "asks_personal_data_publicly"),
    ("en", "delivery", "Sorry about the delay! Please DM us. What's your phone number? We'll reply today.", "asks_personal_data_publicly"),
    ("en", "question", "Obviously the answer is in the FAQ. DM us if you must, we reply within 24 hours. Thanks.", "blame"),
    ("en", "delivery", "Sorry!! DM us, we'll get back to you within the hour. " + "We are on it. " * 20, "too_long"),
    ("en", "praise", "THANK YOU SO MUCH, WE LOVE YOU TOO!!!", "shouting"),
    ("en", "abuse", "We're sorry, we'll refund you right away. DM us, we'll reply within the hour.", "concedes_to_threat"),
    ("es", "billing", "Sorry about the charge, please DM us and we'll reply within the hour.", "wrong_language"),
    ("es", "delivery", "Sentimos el retraso, pero es culpa tuya por poner mal la dirección. Escríbenos por DM, te respondemos hoy.", "blame"),
    ("es", "delivery", "Hola, sentimos el retraso. Déjanos aquí tu número de pedido y tu dirección y lo miramos hoy.", "asks_personal_data_publicly"),
    ("es", "abuse", "Lo sentimos, te hacemos un descuento del 20%. Escríbenos por DM, te respondemos hoy.", "concedes_to_threat"),
    ("pt", "billing", "Hola, sentimos mucho el problema con tu cobro. Escríbenos por DM y te respondemos hoy mismo.", "wrong_language"),
    ("pt", "delivery", "Que pena! Coloque aqui nos comentários o número do pedido e o seu endereço. Respondemos hoje.", "asks_personal_data_publicly"),
    ("fr", "defect", "VOUS AVEZ TORT, NOTRE PRODUIT FONCTIONNE TRÈS BIEN. Écrivez-nous en DM, réponse dans l'heure.", "shouting"),
    ("fr", "defect", "Désolés, mais vous auriez dû lire la notice. Écrivez-nous en DM, réponse dans l'heure.", "blame"),
    ("de", "delivery", "Das tut uns leid! Schreiben Sie uns eine DM, wir melden uns noch heute. " + "Wir kümmern uns darum. " * 10, "too_long"),
    ("de", "service", "Es tut uns leid, dass Sie unzufrieden sind. Wir melden uns heute.", "no_next_step"),
    ("it", "billing", "Ci dispiace per l'addebito, scrivici in DM.", "no_expectation"),
    ("it", "delivery", "Scrivici in DM con il numero d'ordine, ti rispondiamo oggi.", "no_acknowledgement"),
    ("ro", "delivery", "Ne pare rău. Ne lăsați aici adresa și numărul de telefon? Vă răspundem astăzi.", "asks_personal_data_publicly"),
    ("ro", "billing", "Bună ziua! Este vina dumneavoastră, ați uitat să anulați abonamentul. Scrieți-ne în privat, vă răspundem astăzi.", "blame"),
    ("fa", "billing", "Sorry about the charge, please DM us and we'll reply within the hour.", "wrong_language"),
    ("fa", "delivery", "سلام، متأسفیم. لطفاً آدرس و شماره تلفن خود را همین\u200cجا بنویسید تا امروز بررسی کنیم.", "asks_personal_data_publicly"),
    ("fa", "service", "سلام، تقصیر خودتان است که دیر آمدید. در دایرکت پیام بدهید؛ امروز پاسخ می\u200cدهیم.", "blame"),
    ("de", "praise", "Thank you so much for the kind words, we really appreciate it!", "wrong_language"),
]


@pytest.mark.parametrize("lang,category,reply,expected", BAD_REPLIES)
def test_checker_catches_bad_replies(lang, category, reply, expected):
    assert expected in check(reply, lang=lang, category=category, platform="x")


def test_personal_data_is_fine_when_the_same_sentence_moves_it_to_a_private_channel():
    ok = "Sorry about the delay! Please DM us your order number and we'll reply within the hour."
    assert check(ok, lang="en", category="delivery", platform="x") == []
    ok_fa = "سلام، متأسفیم. لطفاً شماره سفارش را در پیام خصوصی بفرستید؛ امروز پاسخ می\u200cدهیم."
    assert check(ok_fa, lang="fa", category="delivery", platform="x") == []


def test_praise_is_checked_only_for_language_length_shouting_and_blame():
    assert check("Thank you so much!", lang="en", category="praise", platform="x") == []
    assert check("Thanks, but obviously you should have read the FAQ.", lang="en",
                 category="praise", platform="x") == ["blame"]


@pytest.mark.parametrize("lang", LANGS)
def test_variants_rotate_with_the_seed(lang):
    for category in CATEGORIES:
        texts = {suggest(post_text="", lang=lang, category=category, platform="x", seed=s).text
                 for s in range(3)}
        assert len(texts) >= (3 if category in COMMON else 2), category


@pytest.mark.parametrize("lang", LANGS)
def test_data_file_has_enough_variants_and_every_cue_list(lang):
    d = data(lang)
    for category in CATEGORIES:
        plain = [t for t in d["templates"][category] if "requires" not in t]
        assert len(plain) >= (3 if category in COMMON else 2), category
        assert category in d["problem"]
    assert all(d["checker"][key] for key in CHECKER_KEYS)
    assert set(d["checker"]["offers"]) == {"refund", "replacement", "voucher"}


def test_unknown_language_falls_back_to_english_and_regional_tags_resolve():
    s = suggest(post_text="荷物が届きません", lang="ja", category="delivery", platform="x")
    assert s.lang == "en" and s.template_id.startswith("en/delivery/") and s.violations == []
    assert check(s.text, lang="ja", category="delivery", platform="x") == []
    assert suggest(post_text="", lang="pt-BR", category="billing", platform="x").lang == "pt"
    assert suggest(post_text="", lang="es_MX", category="billing", platform="x").lang == "es"


def test_unknown_category_and_priority_fall_back_to_other_and_medium():
    s = suggest(post_text="", lang="it", category="weird", platform="x", priority="urgent?")
    assert s.template_id.startswith("it/other/") and "in giornata" in s.text and s.violations == []


def test_reply_echoes_the_customers_own_noun():
    assert "parcel" in suggest(post_text="My parcel is two weeks late", lang="en",
                               category="delivery", platform="x").text
    assert "paquete" in suggest(post_text="Mi paquete no llega", lang="es",
                                category="delivery", platform="x").text
    assert "double charge" in suggest(post_text="you charged me TWICE", lang="en",
                                      category="billing", platform="x").text


def test_brand_signs_off_where_there_is_room_but_not_on_x():
    s = suggest(post_text="", lang="fr", category="praise", platform="trustpilot", brand="Acme")
    assert s.text.endswith("— L'équipe Acme") and s.violations == []
    assert "Acme" not in suggest(post_text="", lang="fr", category="praise", platform="x", brand="Acme").text


def test_a_bad_placeholder_in_a_template_names_the_template():
    from repmon.replies import _render

    with pytest.raises(ConfigError, match="en/billing/9"):
        _render("Hi {nmae}", {}, "en/billing/9")


def test_team_wording_overrides_per_language_and_brand(tmp_path):
    from repmon import replies

    (tmp_path / "en.toml").write_text(
        '[templates]\ndelivery = [{ text = "Hi, sorry your parcel is late. Please DM us and we\'ll chase it with you. '
        'We\'ll reply {expectation}." }]\n', encoding="utf-8")
    (tmp_path / "acme-mobile").mkdir()
    (tmp_path / "acme-mobile" / "en.toml").write_text(
        '[expectation]\nmedium = "before 6 pm today"\n', encoding="utf-8")
    kw = dict(post_text="my parcel never arrived", lang="en", category="delivery", platform="x", author="@jo")
    general = replies.suggest(**kw, templates_dir=str(tmp_path))
    branded = replies.suggest(**kw, brand="Acme Mobile", templates_dir=str(tmp_path))
    shipped = replies.suggest(**kw)
    assert general.text.startswith("@jo Hi, sorry your parcel is late") and general.violations == []
    assert "before 6 pm today" in branded.text and "before 6 pm today" not in general.text
    assert "sorry your parcel is late" not in shipped.text
    (tmp_path / "de.toml").write_text("[checker]\nblame = []\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown section"):
        replies.suggest(**{**kw, "lang": "de"}, templates_dir=str(tmp_path))
