"""RulesScorer: VADER plus project-written cue lexicons, one per language.

How a post is judged (every step adds a short machine-readable reason):

* Language: `post.lang`, else `scoring.lang.detect_many` over the batch.
* Sentiment (-1..1): English (and undetermined) text gets VADER's compound
  (@handles removed; the request words en.toml lists as `vader_neutral`, such as
  "please", "help", "support", dropped from VADER's lexicon), shifted by the
  English cue lexicon (customer-service phrases VADER does not know: "never
  arrived", "charged twice", "still waiting"...). Other languages
  get the sum of their cue words (negators before or after, intensifiers, and a
  "but" that weighs the second half more), plus VADER on emoji/emoticons and on
  the text itself when it is largely English. A star rating shifts the score.
  The sum is squashed like VADER's compound: x / sqrt(x^2 + 15).
* needs_response: a negative post that is brand-directed, a question or request
  to the brand, a rating <= 2, threat/legal/safety/press cues, abuse, sarcasm
  ("great, another delay"). Never for the brand's own posts, spam, or posts
  that only talk about a competitor.
* priority: critical (threat/legal/safety/press), high (negative and reach >=
  high_reach, rating 1, outage, abuse), medium (other responses), low.
* category: the complaint category with most cue hits; question / praise when
  that is what the post is; abuse for threats and insults.

The lexicons live in scoring/lexicons/<lang>.toml; each is compiled once per
process into one trie-shaped regex (see CueSet), so a post costs one regex pass.
For posts without `lang` that pass runs over the English cues plus every
language's function words, which gives the English cues and the evidence for
language detection at once; lingua is asked only about what stays unclear.
"""

from __future__ import annotations

import html
import math
import re
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Optional, Sequence

from scoring import lang as langmod
from scoring.base import Assessment, Post

LEXICON_DIR = Path(__file__).with_name("lexicons")

SENTIMENT_KEYS = ("negative", "positive", "negators", "negators_after", "intensifiers", "contrast")
TRIGGER_KEYS = ("question", "request", "threat", "legal", "safety", "press", "abuse", "sarcasm", "spam")
CATEGORY_KEYS = ("outage", "billing", "delivery", "defect", "account", "service", "question", "praise")
COMPLAINT_CATEGORIES = ("outage", "billing", "delivery", "defect", "account", "service")  # ties: first wins
CRITICAL_KINDS = ("threat", "legal", "safety", "press")
_COMPLAINT_KEYS = tuple(("cat:" + c, c) for c in COMPLAINT_CATEGORIES)
REVIEW_PLATFORMS = frozenset({
    "review", "reviews", "google", "google_reviews", "trustpilot", "yelp", "tripadvisor",
    "appstore", "app_store", "playstore", "play_store", "google_play", "amazon",
})

CUE_WEIGHT = 1.6  # valence of one cue word, on VADER's scale (its words are about -4..4)
ALPHA = 15.0  # VADER's normalisation constant
RATING_WEIGHT = 1.5  # per star away from 3
NEGATOR_WINDOW = 22  # characters between a negator and the cue it flips
NEGATOR_AFTER_WINDOW = 14
INTENSIFIER_WINDOW = 14

_SEP = re.compile(r"[\W_]+")
_PUNCT = re.compile(r"[.!?;,:؟،؛]")
_HASHTAG = re.compile(r"(?<!\w)#(\w+)")
_QMARK = re.compile(r"[?¿؟]")
_EMOJI = re.compile(r"[\U0001F300-\U0001FAFF\u2600-\u27BF\u2B50\u2764]")
_EMOTICON = re.compile(r"(?<![\w:;=])[:;=]['-]?[()DPp/\\|]+(?!\w)|<3")
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


_EXACT, _WILD = _End(), _End()


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
        exact, wild = self.exact, self.wild
        for m in (self._ascii_regex if text.isascii() else self.regex).finditer(text):
            start = m.start()
            if start and text[start - 1] == "@":
                continue
            key = m.group(0)
            hit = exact.get(key)
            if hit is None:
                key = _SEP.sub(" ", key)
                hit = exact.get(key)
                if hit is None:
                    for n in self._wild_lens:
                        hit = wild.get(key[:n])
                        if hit is not None:
                            break
            if hit is not None:
                out.append((start, m.end(), hit[0], hit[1]))
                if evidence and hit[1] and (not start or text[start - 1] != "#"):
                    for lang in hit[1]:
                        scores[lang] = scores.get(lang, 0) + 1
        return (out, scores) if evidence else out


@dataclass(frozen=True)
class Lexicon:
    lang: str
    cues: CueSet
    sarcasm_final: tuple[str, ...] = ()  # normalised phrases, see _final_sarcasm


def _vader_words() -> frozenset[str]:
    return frozenset(_vader().lexicon)


def _read(lang: str) -> Optional[dict[str, list[str]]]:
    path = LEXICON_DIR / f"{lang}.toml"
    if not lang.isalpha() or not path.is_file():
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
    return Lexicon(lang, CueSet(entries, lang), finals)


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


@lru_cache(maxsize=256)
def _terms_regex(terms: tuple[str, ...]) -> Optional[re.Pattern]:
    words = sorted({t.strip().lstrip("@#").lower() for t in terms if t and t.strip().lstrip("@#")},
                   key=len, reverse=True)
    if not words:
        return None
    return re.compile(r"(?<![\w@#])[@#]?(?:" + "|".join(re.escape(w) for w in words) + r")(?!\w)")


def _raw(compound: float) -> float:
    """Invert VADER's x / sqrt(x^2 + 15) to get back the summed valence."""
    c = max(-0.995, min(0.995, compound))
    return c * math.sqrt(ALPHA / (1.0 - c * c))


def _squash(x: float) -> float:
    return x / math.sqrt(x * x + ALPHA)


_TRAIL = re.compile(r"[\W_]+$")


def _final_sarcasm(low: str, matches, finals: tuple[str, ...]) -> bool:
    """A complaint that ends in a short sentence of praise: "... just to be cut off. Amazing."."""
    if not finals:
        return False
    body = low.rstrip()
    if body and not body[-1].isalnum():
        body = _TRAIL.sub("", body)
    cut = max(body.rfind("."), body.rfind("!"), body.rfind("?"), body.rfind("…"), body.rfind("؟"), body.rfind("\n"))
    if cut < 0 or len(body) - cut > 60:
        return False
    tail = " " + _SEP.sub(" ", body[cut + 1:]).strip() + " "
    if tail.count(" ") > 5 or not any(m[0] < cut and "negative" in m[2] for m in matches):
        return False
    return any(" " + p + " " in tail for p in finals)


def _cue_valence(matches, text: str) -> tuple[float, int, int]:
    """Summed valence of the negative/positive cues, with negators, intensifiers and contrast."""
    contrast = -1
    for m in matches:
        if "contrast" in m[2]:
            contrast = m[0]
    total, neg, pos = 0.0, 0, 0
    last_negator_end = -10**9
    last_intens_end = -10**9
    n = len(matches)
    for i in range(n):
        s, e, kinds = matches[i][0], matches[i][1], matches[i][2]
        if "intensifiers" in kinds and i + 1 < n:
            # a word that is both ("فوق العاده", "super") intensifies a cue right after it
            s2, k2 = matches[i + 1][0], matches[i + 1][2]
            if (("negative" in k2 or "positive" in k2) and s2 - e <= INTENSIFIER_WINDOW
                    and not _PUNCT.search(text, e, s2)):
                last_intens_end = e
                continue
        if "negative" in kinds:
            v = -CUE_WEIGHT
        elif "positive" in kinds:
            v = CUE_WEIGHT
        else:
            if "negators" in kinds:
                last_negator_end = e
            if "intensifiers" in kinds:
                last_intens_end = e
            continue
        if s - last_intens_end <= INTENSIFIER_WINDOW and not _PUNCT.search(text, last_intens_end, s):
            v *= 1.5
        negated = s - last_negator_end <= NEGATOR_WINDOW and not _PUNCT.search(text, last_negator_end, s)
        if not negated and i + 1 < n:
            s2, k2 = matches[i + 1][0], matches[i + 1][2]
            if ("negators_after" in k2 and s2 - e <= NEGATOR_AFTER_WINDOW
                    and not _PUNCT.search(text, e, s2)):
                negated = True
        if negated:
            # "not good" is bad; a negated complaint word is mostly still a complaint
            # ("not provisioned error", "no signal, no refund"), so it just stops counting
            v = 0.0 if v < 0 else -v * 0.75
        if contrast >= 0:
            v *= 0.5 if s < contrast else 1.5
        total += v
        if v < 0:
            neg += 1
        elif v > 0:
            pos += 1
    return total, neg, pos


# --- the scorer ---------------------------------------------------------------------------


class RulesScorer:
    name = "rules"

    def __init__(self, negative_threshold: float = -0.05, positive_threshold: float = 0.05,
                 high_reach: int = 10000):
        self.negative_threshold = negative_threshold
        self.positive_threshold = positive_threshold
        self.high_reach = high_reach
        self._compound = _vader_compound()
        self._probe = _probe()

    def score(self, posts: Sequence[Post]) -> list[Assessment]:
        prepared = [self._prepare(post) for post in posts]
        open_ = [i for i, p in enumerate(prepared) if p[0] is None]
        if open_:
            decided = [p[0] for p in prepared if p[0] is not None]
            undecided = [(langmod.clean(posts[i].text or ""), prepared[i][5]) for i in open_]
            for i, code in zip(open_, langmod.resolve(decided, undecided)):
                prepared[i][0] = code
        return [self._assess(post, *p) for post, p in zip(posts, prepared)]

    def _prepare(self, post: Post) -> list:
        """[lang or None, text, n_urls, n_tags, (lowered, probe matches) or None, evidence, ntok]:
        the cleaning, the English/evidence cue pass, and the language when the fast path knows it."""
        text = post.text or ""
        if "&" in text:
            text = html.unescape(text)
        n_urls = 0
        if "http" in text or "www." in text:
            n_urls = len(langmod.URL.findall(text))
            text = langmod.URL.sub(" ", text)
        n_tags = len(_HASHTAG.findall(text)) if "#" in text else 0
        code = post.lang.strip().lower().replace("_", "-").split("-")[0] or None if post.lang else None
        matches = None
        scores: dict[str, float] = {}
        ntok = 0
        if code is None:
            script = langmod.by_script(text if text.isascii() else langmod.HANDLE.sub(" ", text))
            if script is None:  # Latin script: one pass gives the English cues and the evidence
                low = text.lower()
                matches, scores = self._probe.find(low, evidence=True)
                matches = (low, matches)
                langmod.add_letter_evidence(low, scores)
                ntok = len(low.split())
                code = langmod.decide(scores, ntok)
            elif script == "ar|fa":
                scores = {"fa": 1, "ar": 1}
            else:
                code = script
        elif code == "en":
            low = text.lower()
            matches = (low, self._probe.find(low))
        return [code, text, n_urls, n_tags, matches, scores, ntok]

    def _label(self, s: float) -> str:
        if s <= self.negative_threshold:
            return "negative"
        if s >= self.positive_threshold:
            return "positive"
        return "neutral"

    def _assess(self, post: Post, code: str, text: str, n_urls: int, n_tags: int,
                matches, scores: dict[str, float], ntok: int) -> Assessment:
        lex = load_lexicon(code) if code != "en" else None
        if lex is not None:
            low = normalize(text, lex.lang)
            matches = lex.cues.find(low)
        elif matches is not None:  # the probe pass over the English cues is done: reuse it
            low, matches = matches
        else:  # undetermined, or a language without a lexicon: English cues + VADER
            low = text.lower()
            matches = self._probe.find(low)

        # sentiment
        total, neg_hits, _pos_hits = _cue_valence(matches, low)
        if lex is None:
            use_vader = True
        elif code in ("fa", "ar"):
            use_vader = False
        elif ntok:
            use_vader = scores.get("en", 0) >= 2 and scores.get("en", 0) >= 0.3 * ntok
        else:
            use_vader = langmod.english_share(text) >= 0.3
        if use_vader:  # @handles are names, not sentiment ("@united" would be +1.8 to VADER)
            total += _raw(self._compound(
                " ".join([w for w in text.split() if "@" not in w]) if "@" in text else text))
        else:
            emoji = [] if text.isascii() else _EMOJI.findall(text)
            if ":" in text or ";" in text or "=" in text or "<" in text:
                emoji += _EMOTICON.findall(text)
            if emoji:
                total += _raw(self._compound(" ".join(emoji)))
        rating = post.rating
        if rating is not None:
            total += (rating - 3) * RATING_WEIGHT
        sentiment = _squash(total)

        # triggers and categories
        kinds: dict[str, int] = {}
        for m in matches:
            for k in m[2]:
                kinds[k] = kinds.get(k, 0) + 1
        complaint_cat = None
        best = 0
        for key, c in _COMPLAINT_KEYS:
            n = kinds.get(key, 0)
            if n > best:
                complaint_cat, best = c, n

        # brand, competitor, review
        brand_rx = _terms_regex(tuple(post.brand_terms)) if post.brand_terms else None
        comp_rx = _terms_regex(tuple(post.competitor_terms)) if post.competitor_terms else None
        if brand_rx or comp_rx:
            lowered_raw = (post.text or "").lower()
            mentions_brand = bool(brand_rx and brand_rx.search(lowered_raw))
            mentions_comp = bool(comp_rx and comp_rx.search(lowered_raw))
        else:
            mentions_brand = mentions_comp = False
        is_review = rating is not None or (post.platform or "").lower() in REVIEW_PLATFORMS
        competitor_only = mentions_comp and not mentions_brand and not is_review
        brand_directed = not competitor_only and (is_review or mentions_brand or brand_rx is None)

        critical = [k for k in CRITICAL_KINDS if k in kinds]
        abuse = "abuse" in kinds
        sarcasm = neg_hits > 0 and ("sarcasm" in kinds or _final_sarcasm(
            low, matches, (lex or load_lexicon("en")).sarcasm_final))
        if sarcasm:
            sentiment = min(sentiment, -0.3, -abs(sentiment))
        label = self._label(sentiment)
        spam_hits = kinds.get("spam", 0)
        spam = (spam_hits >= 2 or (spam_hits > 0 and (n_urls > 0 or n_tags >= 3))
                or ((n_urls >= 3 or n_tags >= 6) and label != "negative"))
        question = "request" in kinds or (
            ("question" in kinds or "cat:question" in kinds or mentions_brand)
            and _QMARK.search(text) is not None)

        reasons: list[str] = []
        needs = complaint = False
        if post.is_own:
            reasons.append("own-post")
        elif spam and not critical:
            reasons.append("spam")
        elif competitor_only:
            reasons.append("competitor-only")
        else:
            if label == "negative" and brand_directed:
                complaint = True
                reasons.append("brand-directed")
            if rating is not None and rating <= 2:
                complaint = True
                reasons.append(f"rating:{rating}")
            if sarcasm:
                complaint = True
                reasons.append("sarcasm")
            for k in critical:
                reasons.append(k)
                if k != "press":
                    complaint = True
            if abuse and brand_directed:
                complaint = True
                reasons.append("abuse")
            if question and brand_directed:
                reasons.append("question")
            needs = complaint or bool(critical) or (question and brand_directed)
        if complaint and label != "negative":
            label = "negative"
            sentiment = min(sentiment, self.negative_threshold)
        if label == "negative":
            reasons.insert(0, f"negative:{sentiment:.2f}")

        # category
        if needs and (abuse or "threat" in critical):
            category = "abuse"
        elif needs and complaint:
            category = complaint_cat or "other"
        elif needs and question:
            category = "question"
        elif label == "positive":
            category = "praise"
        elif complaint_cat:
            category = complaint_cat
        elif "cat:question" in kinds or "question" in kinds and _QMARK.search(text):
            category = "question"
        elif "cat:praise" in kinds:
            category = "praise"
        else:
            category = "other"

        # priority
        reach = post.author_reach or 0
        if not needs:
            priority = "low"
        elif critical:
            priority = "critical"
        else:
            priority = "medium"
            if label == "negative" and reach >= self.high_reach:
                priority = "high"
                reasons.append(f"high-reach:{reach}")
            if rating == 1 or category == "outage" or abuse:
                priority = "high"

        return Assessment(id=post.id, lang=code, sentiment=sentiment, label=label,
                          needs_response=needs, priority=priority, category=category, reasons=reasons)
