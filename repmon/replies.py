"""Suggested public replies that follow the playbook, and the checker that enforces it.

The playbook (PLAYBOOK.md) is the specification: a complaint reply names the problem, shows
empathy, offers a next step in a private channel, says when we will answer, blames nobody
and fits the platform. Wording, remedy phrases and the checker's cue lists live in
repmon/data/replies/<lang>.toml so the team can edit them per language without touching code.
A suggestion is a draft: a person edits and approves it before anything is posted.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections import Counter
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from importlib.resources import files

from repmon.errors import ConfigError
from repmon.models import CATEGORIES, PRIORITIES

_FOLDER = files("repmon.data") / "replies"
FALLBACK_LANG = "en"
OFFERS = ("refund", "replacement", "voucher")
REMEDIES = (*OFFERS, "contact")
# Fairness (rule 11): the remedy depends only on category and policy, never on the seed or
# on how loud the customer is. Earlier entries win when the policy allows several.
REMEDY_ORDER = {
    "delivery": ("replacement", "refund"),
    "billing": ("refund",),
    "defect": ("replacement", "refund"),
    "service": ("voucher",),
}
MENTION_PLATFORMS = frozenset({"x", "twitter", "mastodon", "bluesky", "threads", "instagram"})
REVIEW_PLATFORMS = frozenset({"google_play", "app_store", "trustpilot"})
SHORT_PLATFORMS = frozenset({"x", "twitter"})
COMPLAINT_CATEGORIES = frozenset(CATEGORIES) - {"praise"}

# Handles (@x, @x@server, Reddit's u/x) are names, not words: "@refund_queen" offers nothing
# and "u/phone_guy" asks for no phone number.
_HANDLE = re.compile(r"@[\w.@-]+|(?<!\w)u/[\w-]+")
_HANDLE_OR_URL = re.compile(rf"{_HANDLE.pattern}|https?://\S+")
_SENTENCE_END = re.compile(r"(?<=[.!?؟;])\s+|\n+")
_SENTENCE_STOP = re.compile(r"(?<=[.!?؟])\s+")
_ARABIC_LETTER = re.compile(r"(?=[^\W\d_])[\u0600-\u06ff\u0750-\u077f\ufb50-\ufdff\ufe70-\ufeff]")
_WORD = re.compile(r"[^\W\d_]+")
_WORD_CHAR = re.compile(r"[^\W\d_]")
# Spellings that mean the same thing: Arabic vs Persian yeh/kaf, the zero-width non-joiner
# (می‌کنیم = میکنیم), tatweel, curly apostrophes, Romanian cedilla vs comma letters.
_FOLD = {"ي": "ی", "ك": "ک", "\u200c": "", "ـ": "", "’": "'", "ş": "ș", "ţ": "ț", "Ş": "Ș", "Ţ": "Ț"}
_FOLD_RE = re.compile("|".join(_FOLD))


@dataclass
class Suggestion:
    text: str
    lang: str  # language actually used (falls back to "en" when no templates for the post's language)
    # e.g. "es/billing/2": language / category / 1-based variant in the TOML list; "generator"
    # for a model's draft that passed check() (repmon/generator.py)
    template_id: str
    violations: list[str]


def char_limit(platform: str) -> int:
    return 280 if platform in SHORT_PLATFORMS else 1000


def suggest(*, post_text: str, lang: str, category: str, platform: str, author: str = "",
            brand: str = "", priority: str = "medium", policy: dict | None = None,
            seed: int = 0, templates_dir: str | None = None) -> Suggestion:
    """A draft public reply for a post, in its language, within what `policy` allows.

    `seed` picks the variant so replies don't read copy-paste. If no variant passes the
    checker, the seed's variant comes back with its violations for the editor to fix.
    `templates_dir` holds the team's own wording (see `wording`).
    """
    lang = resolve_lang(lang)
    data = wording(lang, templates_dir, brand) if templates_dir else _data(lang)
    category = topic = category if category in CATEGORIES else "other"
    # Rule 10: a threat gets the boundary reply whatever the scorer called the post. The reply
    # still names the problem and restates its normal path (the contact remedy), conceding nothing.
    if category in COMPLAINT_CATEGORIES and _cue_match(lang, "threat", post_text):
        category = "abuse"
    allowed = allowed_remedies(policy)
    order = () if category == "abuse" else REMEDY_ORDER.get(topic, ())
    remedy = next((r for r in order if r in allowed), "contact")
    phrases = data["remedy"].get(topic, {})
    # Rules 8-9: asked for a remedy the policy does not allow, the reply says no to the request,
    # with the reason, and still offers what is possible.
    asked = category in COMPLAINT_CATEGORIES and any(
        r not in allowed and _cue_match(lang, ("asks", r), post_text) for r in OFFERS)
    decline = data.get("decline", {}).get("text", "") if asked else ""
    fields = {
        "problem": _problem(data, topic, post_text),
        "remedy": phrases.get(remedy) or phrases.get("contact") or data["remedy"]["default"]["contact"],
        "expectation": data["expectation"].get(priority if priority in PRIORITIES else "medium"),
        "brand": brand,
    }
    handle = author.strip().lstrip("@")
    if handle and platform not in MENTION_PLATFORMS | REVIEW_PLATFORMS:
        fields["author"] = handle
    prefix = f"@{handle} " if handle and platform in MENTION_PLATFORMS else ""
    signoff = ""
    if brand and platform not in MENTION_PLATFORMS:  # there, the brand's own account is the signature
        signoff = "\n\n" + data["meta"].get("signoff", "— {brand}").format(brand=brand)

    variants = [(i, t) for i, t in enumerate(data["templates"][category], 1)
                if t.get("requires", "contact") in allowed]
    tried: list[Suggestion] = []
    # Start at the seed and rotate, so the first variant that passes the checker is used; a
    # decline that fits no variant (X's 280 characters) is dropped before the checks are.
    for extra in dict.fromkeys((decline, "")):
        for step in range(len(variants)):
            index, template = variants[(seed + step) % len(variants)]
            template_id = f"{lang}/{category}/{index}"
            text = prefix + _after_acknowledgement(lang, _render(template["text"], fields, template_id), extra)
            if signoff and len(text + signoff) <= char_limit(platform):
                text += signoff
            problems = check(text, lang=lang, category=category, platform=platform, post_text=post_text,
                             policy=policy or {})
            suggestion = Suggestion(text=text, lang=lang, template_id=template_id, violations=problems)
            if not problems:
                return suggestion
            tried.append(suggestion)
    return tried[0]


def check(reply: str, *, lang: str, category: str, platform: str, post_text: str = "",
          policy: dict | None = None) -> list[str]:
    """Return playbook violations (empty list = passes).

    Personal data rule: a sentence that mentions an order number, address, phone, card,
    password... must also name a private channel (DM, private message, email us) in that
    same sentence; otherwise it counts as asking for the data in public.
    Abuse, or a threat in a complaint, needs the boundary reply: no offer, a person takes over.
    With `policy` given, an offer it does not allow is "offers_disallowed_<remedy>" (rule 10:
    never promise what policy does not allow); a "no" should avoid the offer words.
    A language without a data file is checked with the English cues, minus the language test.
    """
    known = resolve_lang(lang) == _base(lang)
    lang = resolve_lang(lang)
    category = category if category in CATEGORIES else "other"
    complaint = category in COMPLAINT_CATEGORIES
    text = _norm(_HANDLE.sub(" ", reply))
    threat = category == "abuse" or (complaint and _cue_match(lang, "threat", post_text))
    rules = (
        ("wrong_language", known and _wrong_language(reply, lang)),
        ("no_acknowledgement", complaint and not _has(lang, "acknowledgement", text)),
        ("no_next_step", complaint and not (_has(lang, "next_step", text) or _has(lang, "private", text))),
        ("asks_personal_data_publicly", complaint and any(
            _has(lang, "personal_data", s) and not _has(lang, "private", s) for s in _SENTENCE_END.split(text))),
        ("blame", _has(lang, "blame", text)),
        ("no_expectation", complaint and not _has(lang, "expectation", text)),
        ("too_long", len(reply) > char_limit(platform)),
        ("shouting", _shouting(reply)),
        ("concedes_to_threat", threat and any(_has(lang, ("offers", r), text) for r in OFFERS)),
        ("no_escalation", threat and not _has(lang, "escalation", text)),
    )
    found = [name for name, broken in rules if broken]
    if policy is not None:
        allowed = allowed_remedies(policy)
        found += [f"offers_disallowed_{r}" for r in OFFERS if r not in allowed and _has(lang, ("offers", r), text)]
    return found


def hints(*, post_text: str, lang: str, category: str, priority: str = "medium") -> dict[str, str]:
    """The problem and answer-time phrases a template would use (for a reply generator's prompt)."""
    data = _data(resolve_lang(lang))
    return {"problem": _problem(data, category if category in CATEGORIES else "other", post_text),
            "expectation": data["expectation"][priority if priority in PRIORITIES else "medium"]}


def allowed_remedies(policy: dict | None) -> frozenset[str]:
    """Remedies the business allows; a private contact channel is always available."""
    return frozenset(r for r, ok in (policy or {}).items() if ok and r in REMEDIES) | {"contact"}


@cache
def languages() -> tuple[str, ...]:
    """Languages that have a reply data file."""
    return tuple(sorted(p.name[:-5] for p in _FOLDER.iterdir() if p.name.endswith(".toml")))


def resolve_lang(lang: str) -> str:
    base = _base(lang)
    return base if base in languages() else FALLBACK_LANG


def _base(lang: str) -> str:
    return re.split(r"[-_]", (lang or "").strip().lower())[0]


WORDING_SECTIONS = ("templates", "problem", "remedy", "expectation", "decline", "meta")


@cache
def wording(lang: str, folder: str, brand: str = "") -> dict:
    """The shipped data for `lang` with the team's wording laid over it: `<folder>/<lang>.toml`,
    then `<folder>/<brand>/<lang>.toml` (brand name lower-cased, spaces as dashes). Only the
    wording sections (templates, problem, remedy, expectation, decline, meta) can be
    replaced; a category's template list replaces the shipped list. The checker's cue lists
    stay the project's, so an edited template is held to the same playbook."""
    data = {k: (dict(v) if isinstance(v, dict) else v) for k, v in _data(lang).items()}
    base = Path(folder)
    paths = [base / f"{lang}.toml"]
    if brand.strip():
        paths.append(base / brand.strip().lower().replace(" ", "-") / f"{lang}.toml")
    for path in paths:
        if not path.is_file():
            continue
        try:
            extra = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"reply templates {path}: {exc}; fix the TOML syntax") from exc
        unknown = sorted(set(extra) - set(WORDING_SECTIONS))
        if unknown:
            raise ConfigError(f"reply templates {path}: unknown section(s) {', '.join(unknown)}; "
                              f"expected {', '.join(WORDING_SECTIONS)}")
        for section, values in extra.items():
            merged = dict(data.get(section, {}))
            merged.update(values)
            data[section] = merged
    for category, variants in data["templates"].items():
        if not variants or not all(isinstance(v, dict) and v.get("text") for v in variants):
            raise ConfigError(f"reply templates for {lang}: templates.{category} needs variants with a text")
    return data


@cache
def _data(lang: str) -> dict:
    path = _FOLDER / f"{lang}.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"reply data {path}: {exc}; fix the TOML syntax") from exc
    # Fail at load with every missing key named, not mid-suggestion with a KeyError.
    missing = [f"templates.{c}" for c in CATEGORIES if not data.get("templates", {}).get(c)]
    missing += [f"expectation.{p}" for p in PRIORITIES if p not in data.get("expectation", {})]
    present = {"meta": "meta" in data, "checker": "checker" in data,
               "problem.other": "other" in data.get("problem", {}),
               "remedy.default.contact": "contact" in data.get("remedy", {}).get("default", {}),
               "checker.escalation": bool(data.get("checker", {}).get("escalation"))}
    missing += [key for key, ok in present.items() if not ok]
    if missing:
        raise ConfigError(f"reply data {path}: missing {', '.join(missing)}")
    return data


def _norm(text: str) -> str:
    return _FOLD_RE.sub(lambda m: _FOLD[m[0]], unicodedata.normalize("NFC", text)).casefold()


@cache
def _cue_pattern(lang: str, key: str | tuple[str, ...]) -> re.Pattern[str] | None:
    data = _data(lang)
    if key == "expectation":
        # The promised times are always valid cues, so editing them never breaks the checker.
        cues = list(data["checker"].get(key, [])) + list(data["expectation"].values())
    elif isinstance(key, tuple):
        cues = data["checker"].get(key[0], {}).get(key[1], [])
    else:
        cues = data["checker"].get(key, [])
    if not cues:
        return None
    alternation = "|".join(re.escape(_norm(c)) for c in sorted(cues, key=len, reverse=True))
    # Start-of-word only, so a cue also catches inflections ("refund" -> "refunded").
    return re.compile(rf"(?<!\w)(?:{alternation})")


def _has(lang: str, key: str | tuple[str, ...], normalised: str) -> bool:
    pattern = _cue_pattern(lang, key)
    return bool(pattern and pattern.search(normalised))


def _cue_match(lang: str, key: str | tuple[str, ...], text: str) -> bool:
    return bool(text) and _has(lang, key, _norm(text))


def _problem(data: dict, category: str, post_text: str) -> str:
    # Echoing the customer's own noun ("your parcel") shows they were heard (rule 1).
    post = _norm(post_text)
    for cue, phrase in data.get("problem_detail", {}).get(category, {}).items():
        if re.search(rf"(?<!\w){re.escape(_norm(cue))}", post):
            return phrase
    return data["problem"].get(category) or data["problem"]["other"]


def _after_acknowledgement(lang: str, text: str, sentence: str) -> str:
    """`text` with `sentence` put right after its first acknowledging sentence (empathy first)."""
    if not sentence:
        return text
    parts = _SENTENCE_STOP.split(text)
    at = next((i for i, part in enumerate(parts) if _cue_match(lang, "acknowledgement", part)), 0)
    return " ".join([*parts[:at + 1], sentence, *parts[at + 1:]])


def _render(template: str, fields: dict, template_id: str) -> str:
    try:
        text = template.format_map({"author": "\0", **fields})
    except (KeyError, ValueError, IndexError) as exc:
        raise ConfigError(f"reply template {template_id}: bad placeholder {exc}; "
                          "use {author} {problem} {remedy} {expectation} {brand}") from exc
    # An empty name leaves "Hi \0," -> "Hi," and "Thanks, \0!" -> "Thanks!".
    text = re.sub(r"\s*\0", "", text)
    return re.sub(r"[,،](?=\s*[!.?؟])", "", text)


def _shouting(reply: str) -> bool:
    words = [w for w in _WORD.findall(_HANDLE_OR_URL.sub(" ", reply)) if len(w) > 3]
    letters = "".join(words)
    return bool(letters) and sum(map(str.isupper, letters)) / len(letters) > 0.3


def _script(lang: str) -> str:
    return _data(lang)["meta"].get("script", "latin")


@cache
def _stopword_langs() -> dict[str, tuple[str, ...]]:
    """Each Latin-script stopword -> the languages that list it."""
    index: dict[str, list[str]] = {}
    for lang in languages():
        if _script(lang) == "latin":
            for word in {_norm(w) for w in _data(lang)["checker"].get("stopwords", [])}:
                index.setdefault(word, []).append(lang)
    return {word: tuple(langs) for word, langs in index.items()}


def _wrong_language(reply: str, lang: str) -> bool:
    text = _HANDLE_OR_URL.sub(" ", reply)
    letters = len(_WORD_CHAR.findall(text))
    if not letters:
        return False
    arabic = len(_ARABIC_LETTER.findall(text)) / letters
    if _script(lang) == "arabic":
        return arabic < 0.5
    if arabic >= 0.5:
        return True
    # Script alone cannot tell Latin languages apart; count each language's function words
    # and call it wrong when another language explains the text better.
    tokens = _WORD.findall(_norm(text))
    hits = Counter(other for t in tokens for other in _stopword_langs().get(t, ()))
    own = hits.pop(lang, 0)
    if own == 0:
        return len(tokens) >= 3
    return max(hits.values(), default=0) > own
