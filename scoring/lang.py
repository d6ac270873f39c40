"""Offline language detection: ISO 639-1 codes, "und" when there is nothing to go on.

Two stages, so that the common case stays cheap:

1. A fast path in pure Python. Script decides Persian (Arabic script with the
   letters پ چ ژ گ ک ی), Arabic, and "not one of ours" (Cyrillic, CJK, ...).
   For Latin script, distinctive function words ("the", "und", "não", "się", ...)
   and letters (ß, ñ, ã, ă, ł, ğ, ...) are counted per language; a clear winner
   is returned without calling lingua.
2. Everything else goes to lingua (high-accuracy mode), restricted to the
   languages the fast path saw evidence for (plus English). lingua loads its
   n-gram models lazily per language (~0.25 s each, once per process) and
   shares them between detectors. In a batch (detect_many / resolve) the
   languages that dominate the decided posts act as a prior, and a handful of
   texts never makes lingua load a further language: an English batch usually
   needs no lingua model at all, a German one only German and English.

@handles, URLs and hashtags are removed before detecting.
"""

from __future__ import annotations

import html
import re
import threading
from typing import Iterable, Optional

SUPPORTED = ("en", "es", "ro", "fa", "de", "fr", "pt", "it", "nl", "pl", "tr", "ar")
LATIN = tuple(c for c in SUPPORTED if c not in ("fa", "ar"))

HANDLE = re.compile(r"(?<!\w)@\w+")
URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_HASHTAG = re.compile(r"(?<!\w)#\w+")
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")
_ARABIC_SCRIPT = re.compile(r"[\u0600-\u06FF\u0750-\u077F\uFB50-\uFDFF\uFE70-\uFEFF]")
_PERSIAN_LETTERS = re.compile(r"[پچژگکی]")
_ARABIC_LETTERS = re.compile(r"[ةيكىأإؤ]")
_LATIN_LETTER = re.compile(r"[A-Za-z\u00C0-\u024F]")
_ANY_LETTER = re.compile(r"[^\W\d_]")

# Distinctive function words and everyday words per language. Words that are
# common in two of the supported languages ("de", "no", "in", "la", "die", "was")
# are left out on purpose: they would only blur the margin.
_WORDS: dict[str, str] = {
    "en": """the and you your you're my is are were this that with for have has had not but it it's its
        i'm i've i'll i'd don't can't won't didn't doesn't isn't wasn't aren't im dont cant wont didnt doesnt
        they we our us what why how when who which where been will would could should there their about
        again still any if from of at be by just get got thanks thank please never very only after here
        than then them these those some because really yes thx thnx sent done can same like want need know
        today tomorrow hours day time service help good great love bad guys""",
    "es": """el los las y está están muy pero mi mis yo tengo tiene tienen esto eso este hay ya gracias
        hola también ahora siempre estoy soy somos nadie todavía hasta aún puedo usted ustedes qué cómo
        cuándo dónde porqué ningún ninguna llegó""",
    "pt": """não nao é uma os muito você voce vocês eu meu minha ele ela isso isto estou tenho tem foi
        ao aos pelo pela obrigado obrigada também já ainda sem até onde das
        bem agora nem fiz comprei chegou""",
    "it": """il di che è non sono gli della delle dei degli nel nella alla questo questa perché anche
        ho hanno sempre ancora grazie molto tutto niente nessuno mai più già cosa oggi dopo senza
        essere stato sul dal ci mio mia vostro""",
    "fr": """le les des est et je j'ai vous nous pas ne une du au aux ce cette c'est qui pour avec sur
        dans mais très tout toujours merci mon bonjour rien jamais encore depuis ils elle sont été fait
        n'est j'ai suis votre vos mes ça""",
    "de": """der das und ist nicht ich mit auf ein eine einen dem den zu sich auch noch schon wie aber oder
        wir sie bin hat haben wird kann mein meine kein keine für über bei nach vom zum zur im dass wenn
        weil nur sehr jetzt immer heute danke bitte mal doch ja nein du dich dir mir mich euch ihr uns
        gibt habe hab war wurde seit gar einfach ein""",
    "nl": """het een niet ik je jij jullie van dat met voor maar wel geen nog ook zijn heb hebben heeft
        wordt worden mijn bij naar uit wat hoe waarom wanneer bedankt dank alsjeblieft graag nu weer
        nooit altijd uw deze dit kunnen moet zou heel echt toch alleen""",
    "ro": """și este nu să în pe cu fost sunt care din pentru dar foarte acest această aceasta asta nici
        niciodată mulțumesc multumesc vă noi mea mele lui lor unei unui într după dupa încă inca aveți
        aveti avem fără fara bună buna îmi imi mi-a nu-mi iar""",
    "pl": """nie się sie jest że jak ale co tak już juz mnie jestem był była było są bardzo dla czy
        tylko dziękuję dziekuje proszę prosze jeszcze nigdy wszystko może moje mój pan pani państwo""",
    "tr": """ve bir bu çok cok için icin ile ama değil degil var yok ben sen siz biz mı mi daha gibi kadar
        hiç hic sonra şu teşekkür tesekkur teşekkürler lütfen lutfen hala hâlâ neden nasıl nasil ki
        olan oldu olarak bana beni benim""",
}
_WORD_LANGS: dict[str, tuple[str, ...]] = {}
for _lang, _words in _WORDS.items():
    for _w in _words.split():
        _w = _w.replace("’", "'")
        _WORD_LANGS[_w] = tuple(sorted(set(_WORD_LANGS.get(_w, ()) + (_lang,))))

# Letters that (among the supported languages) point at one or two of them.
_LETTERS: dict[str, tuple[str, ...]] = {
    "ß": ("de",), "ä": ("de",), "ö": ("de", "tr"), "ü": ("de", "tr"),
    "ñ": ("es",), "¿": ("es",), "¡": ("es",),
    "ã": ("pt",), "õ": ("pt",),
    "ă": ("ro",), "ș": ("ro",), "ț": ("ro",), "ţ": ("ro",),
    "ł": ("pl",), "ą": ("pl",), "ę": ("pl",), "ś": ("pl",), "ź": ("pl",), "ż": ("pl",), "ć": ("pl",), "ń": ("pl",),
    "ğ": ("tr",), "ı": ("tr",), "ş": ("tr", "ro"),
    "œ": ("fr",), "è": ("fr", "it"), "ê": ("fr", "pt"), "ç": ("fr", "pt", "tr"),
    "ì": ("it",), "ò": ("it",),
}
_LETTER_RE = re.compile("[" + "".join(_LETTERS) + "]")


def clean(text: str) -> str:
    """The text without @handles, URLs and hashtags (HTML entities decoded)."""
    text = text or ""
    if "&" in text:
        text = html.unescape(text)
    return _HASHTAG.sub(" ", URL.sub(" ", HANDLE.sub(" ", text)))


def add_letter_evidence(lowered: str, scores: dict[str, float]) -> dict[str, float]:
    """Add the distinctive letters of `lowered` to `scores` (in place) and return it."""
    if not lowered.isascii():
        for ch in set(_LETTER_RE.findall(lowered)):
            langs = _LETTERS[ch]
            for lang in langs:  # a letter only one language uses counts double
                scores[lang] = scores.get(lang, 0) + (2 if len(langs) == 1 else 0.5)
    return scores


def _evidence(lowered: str) -> tuple[dict[str, float], int]:
    scores: dict[str, float] = {}
    tokens = _WORD.findall(lowered)
    for tok in tokens:
        langs = _WORD_LANGS.get(tok.replace("’", "'"))
        if langs:
            for lang in langs:
                scores[lang] = scores.get(lang, 0) + 1
    return add_letter_evidence(lowered, scores), len(tokens)


def english_share(text: str) -> float:
    """Share of the words that are English function words (0..1)."""
    tokens = _WORD.findall(text.lower())
    if not tokens:
        return 0.0
    hits = sum(1 for t in tokens if _WORD_LANGS.get(t.replace("’", "'")) == ("en",))
    return hits / len(tokens)


def by_script(cleaned: str) -> Optional[str]:
    """The answer the script alone gives: "fa", "ar", "und" (no letters, or a script none of
    the supported languages uses), "ar|fa" (Arabic script, not telling which), or None (Latin)."""
    if len(cleaned) < 12 and len(_ANY_LETTER.findall(cleaned)) < 3:
        return "und"  # "x", "ok", "??": nothing to tell a language by
    if cleaned.isascii():
        return None if _ANY_LETTER.search(cleaned) else "und"
    if not _ANY_LETTER.search(cleaned):
        return "und"
    if _ARABIC_SCRIPT.search(cleaned):
        if (not _LATIN_LETTER.search(cleaned)
                or len(_ARABIC_SCRIPT.findall(cleaned)) >= len(_LATIN_LETTER.findall(cleaned))):
            if _PERSIAN_LETTERS.search(cleaned):
                return "fa"
            if _ARABIC_LETTERS.search(cleaned):
                return "ar"
            return "ar|fa"
    if not _LATIN_LETTER.search(cleaned):
        return "und"  # Cyrillic, Greek, CJK, ...: none of the supported languages
    return None


def decide(scores: dict[str, float], ntok: int) -> Optional[str]:
    """The language the word/letter evidence clearly points at, or None."""
    best, s1, s2 = None, 0.0, 0.0
    for lang, s in scores.items():
        if s > s1:
            best, s1, s2 = lang, s, s1
        elif s > s2:
            s2 = s
    if best is None:
        return None
    if (s1 >= 2 and s1 >= 2 * s2 + 1) or (s2 == 0 and 2 * s1 >= ntok):
        return best
    return None


def _fast(text: str, cleaned: bool = False) -> tuple[Optional[str], dict[str, float]]:
    """(code, {}) when the fast path is sure, else (None, evidence score per language)."""
    text = text if cleaned else clean(text)
    code = by_script(text)
    if code == "ar|fa":
        return None, {"fa": 1, "ar": 1}
    if code is not None:
        return code, {}
    scores, ntok = _evidence(text.lower())
    code = decide(scores, ntok)
    return (code, {}) if code else (None, scores)


def _candidates(scores: dict[str, float], dominant: frozenset[str]) -> tuple[str, ...]:
    """Languages lingua chooses among for an undecided text.

    Without a batch to go on: English plus every language with any evidence (all
    of them when there is none). In a batch, languages that make up >= 10% of the
    posts the fast path decided stand in for weak evidence: one stray function
    word no longer drags in (and loads) another language's models.
    """
    if "fa" in scores and "ar" in scores:
        return tuple(sorted(dominant & {"fa", "ar"})) or ("ar", "fa")
    if not dominant:
        if not scores:
            return LATIN
        return tuple(sorted(set(scores) | {"en"}))
    return tuple(sorted({lang for lang, s in scores.items() if s >= 2} | (dominant & set(LATIN)) | {"en"}))


_LINGUA_CODES = {
    "en": "ENGLISH", "es": "SPANISH", "ro": "ROMANIAN", "fa": "PERSIAN", "de": "GERMAN", "fr": "FRENCH",
    "pt": "PORTUGUESE", "it": "ITALIAN", "nl": "DUTCH", "pl": "POLISH", "tr": "TURKISH", "ar": "ARABIC",
}
# lingua answers None ("und") when its best two guesses are closer than this;
# 0.1 turns most of its coin flips on two-word posts into "und" and keeps real text.
_MIN_DISTANCE = 0.1
_detectors: dict[tuple[tuple[str, ...], bool], object] = {}
_lock = threading.Lock()


def _detector(langs: tuple[str, ...], low: bool = False):
    """A lingua detector for these languages, built once (models are loaded lazily and shared).
    low=True: lingua's low-accuracy mode (trigram models only: loads in ~0.01 s instead of
    ~0.5 s per language, detects twice as fast, a little less sure on short text)."""
    det = _detectors.get((langs, low))
    if det is None:
        with _lock:
            det = _detectors.get((langs, low))
            if det is None:
                from lingua import Language, LanguageDetectorBuilder

                members = [getattr(Language, _LINGUA_CODES[c]) for c in langs]
                if len(members) == 1:  # lingua needs two; English is the usual other one
                    members.append(Language.ENGLISH if langs[0] != "en" else Language.GERMAN)
                builder = LanguageDetectorBuilder.from_languages(*members)
                if low:
                    builder = builder.with_low_accuracy_mode()
                det = builder.with_minimum_relative_distance(_MIN_DISTANCE).build()
                _detectors[(langs, low)] = det
    return det


def _code(language) -> str:
    if language is None:
        return "und"
    return language.iso_code_639_1.name.lower()


# lingua's time grows with the text and then some (~20 s for 120,000 characters of one
# repeated letter); the first couple of sentences tell the language as well as the rest.
MAX_DETECT_CHARS = 1500
_LAST_SPACE = re.compile(r".*\s", re.DOTALL)


def head(text: str) -> str:
    """`text` cut to at most MAX_DETECT_CHARS, at a word boundary where there is one."""
    if len(text) <= MAX_DETECT_CHARS:
        return text
    cut = text[:MAX_DETECT_CHARS + 1]
    m = _LAST_SPACE.match(cut)
    return cut[:m.end() - 1] if m and m.end() > MAX_DETECT_CHARS // 2 else cut[:MAX_DETECT_CHARS]


def _lingua(cands: tuple[str, ...], texts: list[str], low: bool = False) -> list[str]:
    if len(cands) == 1:
        # Nothing to choose between: the one language the batch and the evidence point at.
        return [cands[0]] * len(texts)
    det = _detector(cands, low)
    texts = [head(t) for t in texts]
    if len(texts) == 1:
        return [_code(det.detect_language_of(texts[0]))]
    return [_code(x) for x in det.detect_languages_in_parallel_of(texts)]


def detect(text: str) -> str:
    """ISO 639-1 code of `text` among SUPPORTED, or "und"."""
    code, scores = _fast(text)
    if code is not None:
        return code
    return _lingua(_candidates(scores, frozenset()), [clean(text)])[0]


def resolve(decided: Iterable[str], undecided: list[tuple[str, dict[str, float]]],
            clean_first: bool = False) -> list[str]:
    """Codes for the texts the fast path left open, given as (cleaned text, evidence);
    with clean_first=True as (raw text, evidence), cleaned only if lingua reads them.

    `decided` are the codes the fast path found for the rest of the batch; its
    dominant languages (>= 10% and >= 3 posts) act as a prior: a text whose top
    evidence is a dominant language is taken as that language, and lingua only
    chooses among the dominant languages, English and languages with real evidence.
    A handful of texts that would need models for further languages are decided by
    their evidence alone (see SMALL_GROUP).
    """
    counts: dict[str, int] = {}
    for code in decided:
        if code != "und":
            counts[code] = counts.get(code, 0) + 1
    total = sum(counts.values())
    dominant = frozenset(c for c, n in counts.items() if n >= 3 and n >= 0.1 * total)
    out: list[Optional[str]] = [None] * len(undecided)
    pending: dict[tuple[str, ...], list[int]] = {}
    for j, (_text, scores) in enumerate(undecided):
        ranked = sorted(scores.items(), key=lambda kv: -kv[1])
        if ranked and ranked[0][0] in dominant and (len(ranked) == 1 or ranked[0][1] > ranked[1][1]):
            out[j] = ranked[0][0]  # the batch's own language leads: no need to ask lingua
            continue
        pending.setdefault(_candidates(scores, dominant), []).append(j)
    for cands, idxs in sorted(pending.items(), key=lambda kv: -len(kv[1])):  # big groups first
        if dominant and len(idxs) < SMALL_GROUP and not _loaded(cands):
            # A few texts would make lingua load models for languages the batch does not
            # otherwise need (~0.25 s each): take the strongest evidence instead.
            for j in idxs:
                scores = undecided[j][1]
                out[j] = max(sorted(cands), key=lambda c: (scores.get(c, 0), c in dominant))
            continue
        # Texts with no evidence beyond the batch's own languages and English only need
        # lingua to tell those few apart: the low-accuracy mode does that well enough.
        low = set(cands) <= dominant | {"en"}
        texts = [undecided[j][0] for j in idxs]
        if clean_first and len(cands) > 1:
            texts = [clean(t) for t in texts]
        for j, code in zip(idxs, _lingua(cands, texts, low)):
            out[j] = code
    return out  # type: ignore[return-value]


# Groups of undecided texts smaller than this do not get lingua models loaded for them.
SMALL_GROUP = 20


def _loaded(cands: tuple[str, ...]) -> bool:
    """Whether every language in `cands` is covered by a lingua detector built before."""
    seen = {c for langs, low in _detectors if not low for c in langs}
    return set(cands) <= seen


def detect_many(texts: Iterable[str]) -> list[str]:
    """detect() for a batch. Undecided texts go to lingua in parallel, grouped by
    candidate languages, with the batch's dominant languages as a prior (see resolve)."""
    out: list[Optional[str]] = []
    undecided: list[tuple[str, dict[str, float]]] = []
    where: list[int] = []
    for text in texts:
        cleaned = clean(text)
        code, scores = _fast(cleaned, cleaned=True)
        if code is None:
            where.append(len(out))
            undecided.append((cleaned, scores))
        out.append(code)
    if undecided:
        for i, code in zip(where, resolve([c for c in out if c is not None], undecided)):
            out[i] = code
    return out  # type: ignore[return-value]
