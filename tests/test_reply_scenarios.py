"""The playbook over complaint scenarios the project wrote (tests/data/reply_scenarios.toml):
every suggestion passes the checker and does what the scenario expects, and the checker
catches each kind of bad reply in several languages."""

from __future__ import annotations

import tomllib
from collections import Counter
from importlib.resources import files
from pathlib import Path

import pytest

from repmon.replies import OFFERS, check, languages, suggest

SCENARIOS_FILE = Path(__file__).parent / "data" / "reply_scenarios.toml"
DATA = tomllib.loads(SCENARIOS_FILE.read_text(encoding="utf-8"))
SCENARIOS = DATA["scenario"]
WORDS = DATA["words"]


def fold(text: str) -> str:
    return text.replace("\u200c", "").casefold()


def contains(text: str, words: list[str]) -> list[str]:
    return [w for w in words if fold(w) in fold(text)]


def reply_for(sc: dict, seed: int = 0):
    return suggest(post_text=sc["post"], lang=sc["lang"], category=sc["category"], platform=sc["platform"],
                   author=sc.get("author", ""), brand="Acme", priority=sc.get("priority", "medium"),
                   policy=sc.get("policy", {}), seed=seed)


def test_the_scenarios_cover_every_language_abuse_and_blackmail():
    assert len(SCENARIOS) >= 110
    assert len({sc["id"] for sc in SCENARIOS}) == len(SCENARIOS)
    per_lang = Counter(sc["lang"] for sc in SCENARIOS)
    assert set(per_lang) == set(languages()) == set(WORDS)
    assert min(per_lang.values()) >= 12, per_lang
    assert sum(sc["category"] == "abuse" for sc in SCENARIOS) >= 10
    assert sum(sc.get("boundary", False) and sc["category"] != "abuse" for sc in SCENARIOS) >= 10
    assert sum(sc.get("declines", False) for sc in SCENARIOS) >= 3 * len(per_lang)
    assert {sc["platform"] for sc in SCENARIOS} >= {"x", "trustpilot", "google_play", "app_store", "reddit"}
    assert all(sc["category"] != "praise" for sc in SCENARIOS)


@pytest.mark.parametrize("sc", SCENARIOS, ids=[sc["id"] for sc in SCENARIOS])
def test_scenario(sc):
    lang, policy, words = sc["lang"], sc.get("policy", {}), WORDS[sc["lang"]]
    for seed in range(3):
        s = reply_for(sc, seed)
        where = f"{s.template_id}: {s.text}"
        body = s.text.replace(sc.get("author", "").lstrip("@"), "")  # "@refund_or_else" offers nothing
        _, used, _ = s.template_id.split("/")
        assert s.violations == [], where
        assert check(s.text, lang=lang, category=used, platform=sc["platform"], post_text=sc["post"],
                     policy=policy) == [], where
        # in the customer's language, and in no other
        assert s.lang == lang and s.template_id.startswith(f"{lang}/"), where
        assert all("wrong_language" in check(s.text, lang=other, category=used, platform=sc["platform"])
                   for other in languages() if other != lang), where
        assert len(s.text) <= (280 if sc["platform"] == "x" else 1000), where
        missing = [w for w in sc.get("must", []) if not contains(body, [w])]
        assert not missing, (missing, where)
        # never an offer the policy leaves off
        for remedy in OFFERS:
            if not policy.get(remedy):
                assert not contains(body, words[remedy]), (remedy, where)
        if "offers" in sc:
            assert contains(body, words[sc["offers"]]), (sc["offers"], where)
        if sc.get("boundary"):
            assert used == "abuse", where
            assert not contains(body, [w for r in OFFERS for w in words[r]]), where
            assert contains(body, words["team"]), where
        # a "no" only to a request the policy does not allow; under a threat on X it may not fit
        said_no = bool(contains(body, words["decline"]))
        if sc.get("declines") and not (sc.get("boundary") and sc["platform"] == "x"):
            assert said_no, where
        if not sc.get("declines"):
            assert not said_no, where


@pytest.mark.parametrize("lang", sorted(WORDS))
def test_every_language_can_say_no_and_hand_over_to_a_person(lang):
    data = tomllib.loads((files("repmon.data") / "replies" / f"{lang}.toml").read_text(encoding="utf-8"))
    assert contains(data["decline"]["text"], WORDS[lang]["decline"])
    assert not contains(data["decline"]["text"], [w for r in OFFERS for w in WORDS[lang][r]])
    assert data["checker"]["escalation"] and set(data["checker"]["asks"]) == set(OFFERS)
    assert all("{remedy}" in t["text"] and "{problem}" in t["text"] for t in data["templates"]["abuse"])


def test_the_same_problem_gets_the_same_remedy_however_loud_the_customer_is():
    calm = suggest(post_text="My order is three weeks late.", lang="en", category="delivery",
                   platform="x", policy={"replacement": True})
    loud = suggest(post_text="WHERE IS MY ORDER??? THREE WEEKS!!! USELESS", lang="en", category="delivery",
                   platform="x", author="@famous_account", priority="critical", policy={"replacement": True})
    assert "send a replacement if it's lost" in calm.text and "send a replacement if it's lost" in loud.text


# --- the checker catches each kind of bad reply ---------------------------------------------

# A reply that passes, per language, and sentences that each break one rule when added to it.
GOOD = {
    "en": "Hi, we're sorry about the delay with your order. Please DM us and we'll track it down. We'll reply today.",
    "es": "Hola, sentimos mucho el retraso de tu pedido. Escríbenos por DM y lo localizamos contigo. Te respondemos hoy mismo.",
    "pt": "Olá! Lamentamos muito o atraso do seu pedido. Mande uma DM e vamos localizar o pedido com você. Respondemos ainda hoje.",
    "fr": "Bonjour, désolés pour le retard de votre commande. Écrivez-nous en DM et nous suivons la commande avec vous. Nous vous répondons dans la journée.",
    "de": "Hallo, wir bedauern die Verzögerung Ihrer Bestellung. Schreiben Sie uns eine DM und wir verfolgen die Sendung für Sie. Wir melden uns noch heute.",
    "it": "Ciao, ci dispiace molto per il ritardo del tuo ordine. Scrivici in DM e rintracciamo l'ordine con te. Ti rispondiamo in giornata.",
    "ro": "Bună ziua! Ne pare rău pentru întârzierea comenzii. Scrieți-ne în mesaj privat și verificăm unde este comanda. Vă răspundem astăzi.",
    "fa": "سلام، بابت تأخیر در رسیدن سفارشتان متأسفیم. لطفاً در دایرکت پیام بدهید و سفارشتان را پیگیری می‌کنیم. امروز پاسخ می‌دهیم.",
}
BLAME = {
    "en": "To be fair, it's your fault for ticking the wrong box.",
    "es": "La verdad es que es culpa tuya por poner mal el código.",
    "pt": "Mas a culpa é sua, você deveria ter conferido os dados.",
    "fr": "Mais c'est de votre faute, vous auriez dû vérifier le code.",
    "de": "Das ist allerdings Ihre Schuld, Sie hätten die Angaben prüfen müssen.",
    "it": "Però è colpa tua, avresti dovuto controllare il codice.",
    "ro": "Totuși, este vina dumneavoastră, ați greșit codul.",
    "fa": "البته تقصیر خودتان است که کد را اشتباه وارد کردید.",
}
STAFF_BLAME = {
    "en": "The courier's fault, he clearly didn't bother.",
    "es": "El repartidor se equivocó de portal, lo siento.",
    "pt": "O entregador errou o prédio, infelizmente.",
    "fr": "Le livreur s'est trompé de porte, hélas.",
    "de": "Der Fahrer hat das Paket falsch abgegeben.",
    "it": "Il corriere ha sbagliato portone, purtroppo.",
    "ro": "Curierul a greșit blocul, din păcate.",
    "fa": "پیک ما اشتباه کرد و بسته را جای دیگری برد.",
}
PUBLIC_DATA = {  # (order number, address, phone), each asked for right here in public
    "en": ("Reply below with your order number.", "What's your home address?", "Post your phone number here too."),
    "es": ("Déjanos aquí el número de pedido.", "¿Cuál es tu dirección de envío?", "Pon también tu teléfono en los comentarios."),
    "pt": ("Coloque aqui o número do pedido.", "Qual é o seu endereço?", "Deixe também o seu telefone nos comentários."),
    "fr": ("Indiquez ici votre numéro de commande.", "Quelle est votre adresse de livraison ?", "Laissez aussi votre téléphone en commentaire."),
    "de": ("Nennen Sie uns hier Ihre Bestellnummer.", "Wie lautet Ihre Lieferadresse?", "Schreiben Sie auch Ihre Handynummer darunter."),
    "it": ("Scrivi qui sotto il numero d'ordine.", "Qual è il tuo indirizzo?", "Lascia anche il tuo telefono nei commenti."),
    "ro": ("Lăsați aici numărul comenzii.", "Care este adresa de livrare?", "Scrieți și numărul de telefon în comentarii."),
    "fa": ("شماره سفارش را همین‌جا بنویسید.", "آدرس شما چیست؟", "شماره تلفن خود را هم زیر همین پست بگذارید."),
}
NO_NEXT_STEP = {
    "en": "We're sorry about the delay with your order. We'll look into it today.",
    "es": "Sentimos mucho el retraso de tu pedido. Lo revisamos hoy mismo.",
    "pt": "Lamentamos muito o atraso do seu pedido. Vamos verificar ainda hoje.",
    "fr": "Désolés pour le retard de votre commande. Nous regardons cela dans la journée.",
    "de": "Wir bedauern die Verzögerung Ihrer Bestellung. Wir sehen uns das noch heute an.",
    "it": "Ci dispiace molto per il ritardo del tuo ordine. Lo verifichiamo in giornata.",
    "ro": "Ne pare rău pentru întârzierea comenzii. Verificăm situația astăzi.",
    "fa": "بابت تأخیر سفارشتان متأسفیم. امروز موضوع را بررسی می‌کنیم.",
}
NO_ACKNOWLEDGEMENT = {
    "en": "Send us a DM with the details and we'll check the order. We'll reply today.",
    "es": "Escríbenos por DM con los detalles y revisamos el pedido. Te respondemos hoy mismo.",
    "pt": "Mande uma DM com os detalhes e vamos verificar o pedido. Respondemos ainda hoje.",
    "fr": "Écrivez-nous en DM avec les détails et nous vérifions la commande. Réponse dans la journée.",
    "de": "Schreiben Sie uns eine DM mit den Details, wir prüfen die Bestellung. Wir melden uns heute.",
    "it": "Scrivici in DM con i dettagli e verifichiamo l'ordine. Ti rispondiamo in giornata.",
    "ro": "Scrieți-ne în mesaj privat cu detaliile și verificăm comanda. Vă răspundem astăzi.",
    "fa": "جزئیات را در دایرکت بفرستید تا سفارش را بررسی کنیم. امروز پاسخ می‌دهیم.",
}
REFUND_PROMISE = {
    "en": "We'll refund you in full.",
    "es": "Te reembolsamos el importe completo.",
    "pt": "Vamos fazer o reembolso total.",
    "fr": "Nous vous remboursons intégralement.",
    "de": "Wir erstatten Ihnen den vollen Betrag.",
    "it": "Ti rimborsiamo l'intero importo.",
    "ro": "Vă rambursăm integral suma.",
    "fa": "مبلغ را کامل به شما بازمی‌گردانیم.",
}
LANGS = sorted(GOOD)


def bad(lang: str, extra: str) -> str:
    """GOOD[lang] with `extra` put after its first sentence."""
    first, rest = GOOD[lang].split(". ", 1)
    return f"{first}. {extra} {rest}"


def test_the_bad_reply_tables_cover_every_language():
    assert LANGS == sorted(languages())


@pytest.mark.parametrize("lang", LANGS)
def test_the_good_reply_passes(lang):
    assert check(GOOD[lang], lang=lang, category="delivery", platform="x", policy={}) == []


@pytest.mark.parametrize("lang", LANGS)
def test_checker_catches_blame_of_the_customer_and_of_the_staff(lang):
    for extra in (BLAME[lang], STAFF_BLAME[lang]):
        assert check(bad(lang, extra), lang=lang, category="delivery", platform="x") == ["blame"], extra


@pytest.mark.parametrize("lang", LANGS)
def test_checker_catches_a_public_request_for_order_number_address_or_phone(lang):
    for extra in PUBLIC_DATA[lang]:
        found = check(bad(lang, extra), lang=lang, category="delivery", platform="trustpilot")
        assert found == ["asks_personal_data_publicly"], extra


@pytest.mark.parametrize("lang", LANGS)
def test_checker_catches_a_reply_in_another_language(lang):
    for other in LANGS:
        if other != lang:
            assert "wrong_language" in check(GOOD[other], lang=lang, category="delivery", platform="x"), other


@pytest.mark.parametrize("lang", LANGS)
def test_checker_catches_a_missing_next_step_or_acknowledgement(lang):
    assert check(NO_NEXT_STEP[lang], lang=lang, category="delivery", platform="x") == ["no_next_step"]
    assert check(NO_ACKNOWLEDGEMENT[lang], lang=lang, category="delivery", platform="x") == ["no_acknowledgement"]


@pytest.mark.parametrize("lang", LANGS)
def test_checker_catches_over_length_and_shouting(lang):
    long = GOOD[lang]
    while len(long) <= 280:
        long += " " + GOOD[lang].split(". ")[1].rstrip(".") + "."
    assert len(long) <= 1000
    assert check(long, lang=lang, category="delivery", platform="x") == ["too_long"]
    assert check(long, lang=lang, category="delivery", platform="trustpilot") == []
    if lang != "fa":  # Persian has no capitals to shout with
        assert check(GOOD[lang].upper(), lang=lang, category="delivery", platform="x") == ["shouting"]


@pytest.mark.parametrize("lang", LANGS)
def test_checker_catches_a_promise_the_policy_does_not_allow(lang):
    reply = bad(lang, REFUND_PROMISE[lang])
    assert check(reply, lang=lang, category="billing", platform="x", policy={"refund": False}) == [
        "offers_disallowed_refund"]
    assert check(reply, lang=lang, category="billing", platform="x", policy={"refund": True}) == []
    assert check(reply, lang=lang, category="billing", platform="x") == []  # no policy given: not judged


@pytest.mark.parametrize("lang", LANGS)
def test_checker_wants_the_boundary_reply_for_abuse(lang):
    found = check(bad(lang, REFUND_PROMISE[lang]), lang=lang, category="abuse", platform="x",
                  policy={"refund": True})
    assert found == ["concedes_to_threat", "no_escalation"]
    boundary = suggest(post_text="", lang=lang, category="abuse", platform="x")
    assert check(boundary.text, lang=lang, category="abuse", platform="x") == []
