"""Cue lexicons: scoring/lexicons/<lang>.toml compiled into one regex pass per post,
and the scorer's own tuned copy of VADER.

A lexicon lists phrases by kind: sentiment (negative, positive, negators, intensifiers,
contrast), triggers (question, request, threat, legal, safety, press, abuse, sarcasm,
spam) and complaint categories. Each is compiled once per process into a trie-shaped
regex (see CueSet), so finding every cue in a post costs one regex pass. For posts
without a language the English cues are run together with every language's function
words, which gives the English cues and the evidence for language detection at once.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Optional

from scoring import lang as langmod

LEXICON_DIR = Path(__file__).with_name("lexicons")

SENTIMENT_KEYS = ("negative", "positive", "negators", "negators_after", "intensifiers", "contrast")
TRIGGER_KEYS = ("question", "request", "threat", "legal", "safety", "press", "abuse", "sarcasm", "spam", "news")
CATEGORY_KEYS = ("outage", "billing", "delivery", "defect", "account", "service", "question", "praise")
COMPLAINT_CATEGORIES = ("outage", "billing", "delivery", "defect", "account", "service")  # ties: first wins
CRITICAL_KINDS = ("threat", "legal", "safety", "press")
_COMPLAINT_KEYS = tuple(("cat:" + c, c) for c in COMPLAINT_CATEGORIES)

_SEP = re.compile(r"[\W_]+")
_REPEAT3 = re.compile(r"([^\W\d_])\1\1+")  # letters only: "1000" stays
_FA_REPLACE = (("ي", "ی"), ("ى", "ی"), ("ك", "ک"), ("ة", "ه"), ("ۀ", "ه"), ("أ", "ا"), ("إ", "ا"), ("ٱ", "ا"),
               ("\u200c", ""), ("\u200d", ""), ("ـ", ""))
_FA_HARAKAT = re.compile("[\u064B-\u065F]")
_FA_MI = re.compile(r"(?<!\w)(ن?می)\s+(?=\w)")


def normalize(text: str, lang: str) -> str:
    """Lower-case text as the lexicons are written: Persian letters unified, the
    zero-width non-joiner dropped (نمی‌رسه == نمیرسه == نمی رسه), Persian letters
    repeated three or more times cut to one ("خیلیییی" -> "خیلی")."""
    text = text.lower()
    if lang == "fa":
        for a, b in _FA_REPLACE:  # str.replace is much faster than str.translate here
            if a in text:
                text = text.replace(a, b)
        text = _FA_MI.sub(r"\1", _FA_HARAKAT.sub("", text))
        return _REPEAT3.sub(r"\1", text)
    return text


# --- cue matching -------------------------------------------------------------------------


class _End:
    pass


_EXACT, _WILD, _MISS = _End(), _End(), _End()
_MAX_VARIANTS = 20_000


def _trie_pattern(node: dict) -> str:
    alts = []
    for key in sorted(k for k in node if isinstance(k, str)):
        alts.append(("[\\W_]+" if key == " " else re.escape(key)) + _trie_pattern(node[key]))
    if _WILD in node:
        alts.append(r"\w*")
    elif _EXACT in node:
        alts.append("")
    if len(alts) == 1:
        return alts[0]
    return "(?:" + "|".join(alts) + ")"


class CueSet:
    """Finds cue phrases of many kinds in normalised text with one regex pass.

    Phrases are lower-case words separated by spaces; any run of punctuation or
    spaces in the text matches a space ("can't" also matches "can t"). A trailing *
    on the last word is a prefix wildcard ("cancel*"). Where cues overlap, the
    longest one at the leftmost position is matched ("never arrived" over
    "arrived"), and it also carries the trigger/category kinds of the cues inside it
    ("no refund" is negative *and* billing). Sentiment kinds are the phrase's own,
    so a phrase can carry its own negation ("not bad"); only a phrase without any
    sentiment of its own inherits the polarity of the words in it.

    `evidence` maps function words to the languages they point at; a match then
    also reports those languages (for language detection in the same pass).
    """

    def __init__(self, entries: dict[str, Iterable[str]], lang: str,
                 evidence: Optional[dict[str, tuple[str, ...]]] = None):
        own: dict[str, set[str]] = {}
        wild: dict[str, set[str]] = {}
        langs: dict[str, tuple[str, ...]] = {}
        for kind, phrases in entries.items():
            for phrase in phrases:
                phrase = phrase.strip()
                is_wild = phrase.endswith("*")
                norm = _SEP.sub(" ", normalize(phrase.rstrip("*"), lang)).strip()
                if norm:
                    (wild if is_wild else own).setdefault(norm, set()).add(kind)
        for word, word_langs in (evidence or {}).items():
            norm = _SEP.sub(" ", word).strip()
            if norm:
                own.setdefault(norm, set())
                langs[norm] = word_langs
        wild_lens = sorted({len(k) for k in wild}, reverse=True)

        def own_kinds(sub: str) -> set[str]:
            found = set(own.get(sub, ()))
            n_spaces = sub.count(" ")
            for n in wild_lens:
                stem = sub[:n]
                if n <= len(sub) and stem in wild and stem.count(" ") == n_spaces:
                    found |= wild[stem]
                    break
            return found

        def info(key: str, kinds: set[str]) -> tuple[frozenset[str], tuple[str, ...]]:
            tokens = key.split(" ")
            kinds = kinds | own_kinds(key)  # "retraso" is also "retras*"
            inherited: set[str] = set()
            found_langs: list[str] = list(langs.get(key, ()))
            if len(tokens) > 1:
                for i in range(len(tokens)):
                    for j in range(i + 1, len(tokens) + 1):
                        if j - i == len(tokens):
                            continue
                        sub = " ".join(tokens[i:j])
                        inherited |= own_kinds(sub)
                        found_langs.extend(langs.get(sub, ()))
            result = set(kinds) | {k for k in inherited if k not in SENTIMENT_KEYS}
            if not kinds & set(SENTIMENT_KEYS):
                result |= inherited & {"negative", "positive"}
            return frozenset(result), tuple(found_langs)

        self.exact = {k: info(k, v) for k, v in own.items()}
        self.wild = {k: info(k, v) for k, v in wild.items()}
        self._wild_lens = wild_lens
        self._variants: dict[str, Optional[tuple[frozenset[str], tuple[str, ...]]]] = {}
        root: dict = {}
        for table, end in ((self.exact, _EXACT), (self.wild, _WILD)):
            for key in table:
                node = root
                for ch in key:
                    node = node.setdefault(ch, {})
                node[end] = True
        firsts = "".join(sorted({re.escape(k[0]) for k in root if isinstance(k, str)}))
        # \b + a first-letter lookahead lets the regex engine skip most positions quickly;
        # phrases start and end with word characters, so \b is the word boundary wanted.
        pattern = r"\b(?=[" + firsts + "])" + _trie_pattern(root) + r"\b"
        self.regex = re.compile(pattern) if root else None
        self._ascii_regex = re.compile(pattern, re.ASCII) if root else None  # same matches, faster

    def find(self, text: str, evidence: bool = False):
        """(start, end, kinds, languages) for each cue in `text` (normalised), left to right.
        Words that are part of an @handle are skipped. With evidence=True: (those matches,
        {language: number of its function words outside #hashtags})."""
        out: list = []
        scores: dict[str, float] = {}
        if self.regex is None:
            return (out, scores) if evidence else out
        exact, variant = self.exact, self._variant
        append = out.append
        for m in (self._ascii_regex if text.isascii() else self.regex).finditer(text):
            start, end = m.span()
            if start and text[start - 1] == "@":
                continue
            key = text[start:end]
            hit = exact.get(key)
            if hit is None:
                hit = variant(key)
                if hit is None:
                    continue
            append((start, end, hit[0], hit[1]))
            if evidence and hit[1] and (not start or text[start - 1] != "#"):
                for lang in hit[1]:
                    scores[lang] = scores.get(lang, 0) + 1
        return (out, scores) if evidence else out

    def _variant(self, key: str):
        """The entry for matched text that is not spelled as an exact key: other separators
        ("can t") or a wildcard's inflection ("cancelled"). Remembered, as the same few
        inflections recur post after post; the bound keeps odd input from growing it forever."""
        hit = self._variants.get(key, _MISS)
        if hit is _MISS:
            norm = _SEP.sub(" ", key)
            hit = self.exact.get(norm)
            if hit is None:
                for n in self._wild_lens:
                    hit = self.wild.get(norm[:n])
                    if hit is not None:
                        break
            if len(self._variants) < _MAX_VARIANTS:
                self._variants[key] = hit
        return hit


@dataclass(frozen=True)
class Lexicon:
    lang: str
    cues: CueSet
    sarcasm_final: tuple[str, ...] = ()  # normalised phrases, see _final_sarcasm
    negator_words: frozenset[str] = frozenset()  # one-word negators, for the model's negation scope


def _vader_words() -> frozenset[str]:
    return frozenset(_vader().lexicon)


# A language code as lexicon files are named; anything else (a 300-letter "code" from a
# feed would make the file name too long for the OS) has no lexicon.
_LANG_CODE = re.compile(r"[a-z]{2,8}")


def _read(lang: str) -> Optional[dict[str, list[str]]]:
    if not _LANG_CODE.fullmatch(lang):
        return None
    path = LEXICON_DIR / f"{lang}.toml"
    if not path.is_file():
        return None
    with open(path, "rb") as f:
        data = tomllib.load(f)
    entries = {k: list(data.get(k, [])) for k in SENTIMENT_KEYS + TRIGGER_KEYS + ("sarcasm_final",)}
    for k, v in data.get("categories", {}).items():
        if k in CATEGORY_KEYS:
            entries["cat:" + k] = list(v)
    if lang == "en":  # VADER already scores its own words; add only what it does not know
        known = _vader_words()
        for k in ("negative", "positive"):
            entries[k] = [p for p in entries[k] if p.endswith("*") or " " in p.strip() or p.strip() not in known]
    return entries


@lru_cache(maxsize=None)
def load_lexicon(lang: str) -> Optional[Lexicon]:
    """The compiled lexicon for `lang`, or None when there is no file for it."""
    entries = _read(lang)
    if entries is None:
        return None
    finals = tuple(_SEP.sub(" ", normalize(p, lang)).strip() for p in entries.pop("sarcasm_final", []))
    negators = frozenset(w for w in (normalize(p.strip(), lang) for p in entries["negators"])
                         if w and not _SEP.search(w.replace("'", "")))
    return Lexicon(lang, CueSet(entries, lang), finals, negators)


@lru_cache(maxsize=1)
def _probe() -> CueSet:
    """English cues plus every supported language's function words: one pass over a post
    gives its English cues and the evidence for detecting its language."""
    entries = _read("en") or {}
    entries.pop("sarcasm_final", None)
    return CueSet(entries, "en", evidence=langmod._WORD_LANGS)


def available_languages() -> list[str]:
    return sorted(p.stem for p in LEXICON_DIR.glob("*.toml"))


@lru_cache(maxsize=1)
def _vader():
    """This scorer's own VADER, without the words en.toml lists as `vader_neutral`."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    with open(LEXICON_DIR / "en.toml", "rb") as f:
        for word in tomllib.load(f).get("vader_neutral", []):
            analyzer.lexicon.pop(word.strip().lower(), None)
    return analyzer


@lru_cache(maxsize=1)
def vader_valences() -> dict[str, float]:
    """VADER's word list (valence -4..4) without the words en.toml lists as `vader_neutral`."""
    return dict(_vader().lexicon)


def _vader_compound():
    """VADER's compound score, the same number as `polarity_scores(text)["compound"]`,
    without two costs that cannot change it: the per-character emoji pass on ASCII
    text (VADER's emoji are all non-ASCII), and everything after tokenising when no
    token is in VADER's lexicon (then every valence is 0 and so is the compound).
    tests/test_scoring.py checks the equality on a set of sentences."""
    from vaderSentiment.vaderSentiment import BOOSTER_DICT, SentiText

    analyzer = _vader()
    lexicon = analyzer.lexicon
    polarity = analyzer.polarity_scores
    valence_of = analyzer.sentiment_valence

    def compound(text: str) -> float:
        if not text.isascii():
            return polarity(text)["compound"]
        sentitext = SentiText(text.strip())
        words = sentitext.words_and_emoticons
        lowered = [w.lower() for w in words]
        if not any(w in lexicon for w in lowered):
            return 0.0
        sentiments: list = []
        n = len(words)
        for i, item in enumerate(words):
            low = lowered[i]
            # VADER's sentiment_valence appends 0 for a word outside its lexicon: do that inline
            if low not in lexicon or low in BOOSTER_DICT or (
                    low == "kind" and i < n - 1 and lowered[i + 1] == "of"):
                sentiments.append(0)
                continue
            sentiments = valence_of(0, sentitext, item, i, sentiments)
        if "but" in lowered:
            sentiments = analyzer._but_check(words, sentiments)
        return analyzer.score_valence(sentiments, sentitext.text)["compound"]

    return compound
