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
from dataclasses import dataclass
from functools import lru_cache
from typing import Optional, Sequence

from scoring import lang as langmod
from scoring.base import Assessment, Post
from scoring.lexicon import (CRITICAL_KINDS, COMPLAINT_CATEGORIES, _SEP, _vader_compound, _probe,
                             load_lexicon, normalize)

_COMPLAINT_KEYS = tuple(("cat:" + c, c) for c in COMPLAINT_CATEGORIES)
NEWS_PLATFORMS = frozenset({"rss", "news"})
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

_PUNCT = re.compile(r"[.!?;,:؟،؛]")
_HASHTAG = re.compile(r"(?<!\w)#(\w+)")
_EMOJI = re.compile(r"[\U0001F300-\U0001FAFF\u2600-\u27BF\u2B50\u2764]")
_EMOTICON = re.compile(r"(?<![\w:;=])[:;=]['-]?[()DPp/\\|]+(?!\w)|<3")


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


@dataclass
class Facts:
    """What the lexicons found in one post (see RulesScorer._facts)."""

    code: str
    text: str  # cleaned: entities unescaped, URLs removed
    low: str  # normalised for the lexicons
    n_urls: int
    n_tags: int
    valence: float  # cues + VADER + rating, on VADER's unsquashed scale
    vader: float  # VADER's compound for the text (emoji only for non-English)
    neg_hits: int
    pos_hits: int
    kinds: dict[str, int]  # cue kind -> number of hits
    sarcasm: bool
    qmark: bool
    english: bool  # English enough for VADER's word list


# --- the scorer ---------------------------------------------------------------------------


class RulesScorer:
    name = "rules"
    full_vader = True  # run VADER's whole algorithm on English text

    def __init__(self, negative_threshold: float = -0.05, positive_threshold: float = 0.05,
                 high_reach: int = 10000):
        self.negative_threshold = negative_threshold
        self.positive_threshold = positive_threshold
        self.high_reach = high_reach
        self._compound = _vader_compound()
        self._probe = _probe()

    def score(self, posts: Sequence[Post]) -> list[Assessment]:
        return [self._assess(post, *p) for post, p in zip(posts, self._prepare_all(posts))]

    def _prepare_all(self, posts: Sequence[Post]) -> list[list]:
        prepared = [self._prepare(post) for post in posts]
        open_ = [i for i, p in enumerate(prepared) if p[0] is None]
        if open_:
            decided = [p[0] for p in prepared if p[0] is not None]
            undecided = [(posts[i].text or "", prepared[i][5]) for i in open_]
            for i, code in zip(open_, langmod.resolve(decided, undecided, clean_first=True)):
                prepared[i][0] = code
        return prepared

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
            script = langmod.by_script(text if text.isascii() or "@" not in text else langmod.HANDLE.sub(" ", text))
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

    def _assess(self, post: Post, *prepared) -> Assessment:
        f = self._facts(post, *prepared)
        sentiment = _squash(f.valence)
        return self._decide(post, f, sentiment, self._label(sentiment))

    def _facts(self, post: Post, code: str, text: str, n_urls: int, n_tags: int,
               matches, scores: dict[str, float], ntok: int) -> Facts:
        """Everything the lexicons say about a post, before a label is chosen."""
        lex = load_lexicon(code) if code != "en" else None
        if lex is not None:
            # outside Persian, normalising is lower-casing, which the probe pass already did
            low = matches[0] if matches is not None and code != "fa" else normalize(text, lex.lang)
            matches = lex.cues.find(low)
        elif matches is not None:  # the probe pass over the English cues is done: reuse it
            low, matches = matches
        else:  # undetermined, or a language without a lexicon: English cues + VADER
            low = text.lower()
            matches = self._probe.find(low)

        total, neg_hits, pos_hits = _cue_valence(matches, low)
        if lex is None:
            use_vader = True
        elif code in ("fa", "ar"):
            use_vader = False
        elif ntok:
            use_vader = scores.get("en", 0) >= 2 and scores.get("en", 0) >= 0.3 * ntok
        else:
            use_vader = langmod.english_share(text) >= 0.3
        vader = 0.0
        if not self.full_vader:
            pass  # the subclass reads VADER's word valences itself, from its own tokens
        elif use_vader:  # @handles are names, not sentiment ("@united" would be +1.8 to VADER)
            vader = self._compound(" ".join([w for w in text.split() if "@" not in w]) if "@" in text else text)
        else:
            emoji = [] if text.isascii() else _EMOJI.findall(text)
            if ":" in text or ";" in text or "=" in text or "<" in text:
                emoji += _EMOTICON.findall(text)
            if emoji:
                vader = self._compound(" ".join(emoji))
        total += _raw(vader) if vader else 0.0
        if post.rating is not None:
            total += (post.rating - 3) * RATING_WEIGHT

        kinds: dict[str, int] = {}
        for m in matches:
            for k in m[2]:
                kinds[k] = kinds.get(k, 0) + 1
        sarcasm = neg_hits > 0 and ("sarcasm" in kinds or _final_sarcasm(
            low, matches, (lex or load_lexicon("en")).sarcasm_final))
        return Facts(code, text, low, n_urls, n_tags, total, vader, neg_hits, pos_hits, kinds, sarcasm,
                     "?" in text or "¿" in text or "؟" in text, use_vader)

    def _decide(self, post: Post, f: Facts, sentiment: float, label: str,
                learned_category: Optional[str] = None) -> Assessment:
        """needs_response, priority, category and reasons from the facts and a label.
        `learned_category` is a model's guess, used when no complaint cue names one."""
        kinds, rating = f.kinds, post.rating
        complaint_cat = None
        best = 0
        for key, c in _COMPLAINT_KEYS:
            n = kinds.get(key, 0)
            if n > best:
                complaint_cat, best = c, n
        if complaint_cat is None and learned_category in COMPLAINT_CATEGORIES:
            complaint_cat = learned_category

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
        if f.sarcasm:
            sentiment = min(sentiment, -0.3, -abs(sentiment))
            label = "negative"
        spam_hits = kinds.get("spam", 0)
        spam = (spam_hits >= 2 or (spam_hits > 0 and (f.n_urls > 0 or f.n_tags >= 3))
                or ((f.n_urls >= 3 or f.n_tags >= 6) and label != "negative"))
        question = "request" in kinds or (
            ("question" in kinds or "cat:question" in kinds or mentions_brand) and f.qmark)

        # A report that names the brand (a feed article, or a headline with a link) is for
        # the dashboard and the crisis alerts, not for a public reply.
        news = (post.platform or "").lower() in NEWS_PLATFORMS or (
            "news" in kinds and f.n_urls > 0 and not f.qmark and "request" not in kinds and rating is None)

        reasons: list[str] = []
        needs = complaint = False
        if post.is_own:
            reasons.append("own-post")
        elif spam and not critical:
            reasons.append("spam")
        elif news:
            reasons.append("news")
        elif competitor_only:
            reasons.append("competitor-only")
        else:
            if label == "negative" and brand_directed:
                complaint = True
                reasons.append("brand-directed")
            if rating is not None and rating <= 2:
                complaint = True
                reasons.append(f"rating:{rating}")
            if f.sarcasm:
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
        elif "cat:question" in kinds or "question" in kinds and f.qmark:
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

        return Assessment(id=post.id, lang=f.code, sentiment=sentiment, label=label,
                          needs_response=needs, priority=priority, category=category, reasons=reasons)
