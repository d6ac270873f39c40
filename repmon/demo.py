"""Built-in demo data set: eight weeks of made-up mentions of a made-up mobile operator.

It lets a newcomer see a full dashboard without any API keys. Every text is generated from the
phrase templates in ``repmon/data/demo_phrases.json``, which were written for repmon; no outside
data set is involved. Brand, competitors, phones and people are fictional; URLs use example domains.

Determinism: the content (ids, authors, texts, threads) comes from one fixed seed and never looks
at ``anchor``. A second fixed-seed stream then places each thread in time, following the weekday
and time-of-day rhythm of the calendar days before ``anchor``. So the same anchor gives identical
output, every anchor gives the same ids and texts, and anchors a whole number of weeks apart (same
time of day) give timestamps shifted by exactly that much.
"""

from __future__ import annotations

import bisect
import itertools
import json
import random
import unicodedata
from collections import Counter
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from importlib import resources
from typing import Any, Optional

BRAND: dict[str, Any] = {
    "name": "Tidewell Mobile",
    "keywords": ["tidewell"],
    "handles": ["@tidewell", "@tidewellhelp"],
    "exclude": ["tidewell beach"],
    "languages": ["en", "es", "ro", "fa", "de", "fr", "pt", "it"],
    "competitors": ["Orbitel", "Skyfern"],
}
OWN_HANDLE = "@tidewellhelp"
WINDOW = timedelta(days=56)
PLATFORMS = ("x", "reddit", "mastodon", "google_play", "app_store", "trustpilot")
COMPLAINTS = ("delivery", "billing", "defect", "service", "account", "outage")
SCENARIOS = COMPLAINTS + (
    "question", "praise", "neutral", "competitor", "spam", "sarcasm", "abuse", "threat", "legal", "own_reply",
)

_OWN_REACH = 48_500
_REVIEW = frozenset({"google_play", "app_store", "trustpilot"})
_APP_STORES = frozenset({"google_play", "app_store"})
_NEGATIVE = frozenset(COMPLAINTS + ("sarcasm", "legal", "abuse", "threat"))
_MIN, _HOUR, _DAY = 60, 3600, 86400

_CONTENT_SEED = 20_240_517
_CLOCK_SEED = 90_210

# Root posts per schedule entry outside the outage spike; replies come on top (see _replies).
# Tuned so the whole set lands near 35% complaints, 25% praise, 20% neutral, 10% questions.
_BASE_ROOTS = {
    "delivery": 75, "billing": 85, "defect": 55, "service": 60, "account": 55, "outage": 50,
    "sarcasm": 32, "legal": 10, "abuse": 4, "threat": 3,
    "question": 255, "praise": 640, "neutral": 350, "offtopic": 20, "competitor": 130, "spam": 25,
}
_SPIKE_ROOTS = 330

_APP_HEAVY = {"x": 40, "reddit": 14, "mastodon": 7, "trustpilot": 15, "google_play": 13, "app_store": 11}
_NO_APP = {"x": 48, "reddit": 17, "mastodon": 8, "trustpilot": 27}
_PLATFORM_WEIGHTS: dict[str, dict[str, int]] = {
    "delivery": _NO_APP, "service": _NO_APP,
    "billing": _APP_HEAVY, "defect": _APP_HEAVY, "account": _APP_HEAVY, "outage": _APP_HEAVY,
    "question": {"x": 55, "reddit": 33, "mastodon": 12},
    "praise": {"x": 40, "reddit": 7, "mastodon": 6, "trustpilot": 17, "google_play": 17, "app_store": 13},
    "neutral": {"x": 55, "reddit": 15, "mastodon": 10, "trustpilot": 7, "google_play": 7, "app_store": 6},
    "offtopic": {"x": 70, "reddit": 10, "mastodon": 20},
    "competitor": {"x": 60, "reddit": 30, "mastodon": 10},
    "spam": {"x": 75, "mastodon": 25},
    "sarcasm": {"x": 70, "reddit": 10, "mastodon": 10, "google_play": 10},
    "legal": {"x": 40, "reddit": 30, "trustpilot": 30},
    "abuse": {"x": 100},
    "threat": {"x": 70, "trustpilot": 30},
    "spike": {"x": 60, "reddit": 12, "mastodon": 8, "google_play": 10, "app_store": 5, "trustpilot": 5},
}

_LANG_WEIGHTS = {"en": 44, "es": 11, "ro": 8, "fa": 8, "de": 8, "fr": 7, "pt": 6, "it": 6}
# Each audience's evening peak should land at its own local evening (DST ignored).
_UTC_OFFSET = {"en": 0.0, "es": 1.0, "ro": 2.0, "fa": 3.5, "de": 1.0, "fr": 1.0, "pt": 0.0, "it": 1.0}
_HOUR_WEIGHTS = (
    0.30, 0.18, 0.10, 0.07, 0.06, 0.10, 0.25, 0.55, 0.85, 1.00, 1.05, 1.05,
    1.10, 1.05, 1.00, 1.00, 1.00, 1.05, 1.10, 1.20, 1.20, 1.05, 0.80, 0.50,
)
_WEEKDAY_WEIGHTS = (1.10, 1.10, 1.05, 1.05, 1.00, 0.70, 0.60)  # Monday first
# Outage intensity per hour from 07:00 UTC ten days before the anchor's date until 12:00 the next
# day: a steep morning ramp, a slow evening decay, and a smaller bump as people wake up still offline.
_SPIKE_SHAPE = (
    2, 6, 9, 10, 10, 9, 8, 7, 6, 6, 5, 5, 4, 3, 2, 1.5, 1,
    0.6, 0.4, 0.3, 0.3, 0.3, 0.5, 1, 2.5, 3, 3, 2.5, 1.5,
)
_SPIKE_DAYS_BEFORE = 10
_SPIKE_START_HOUR = 7

_HANDLE_PATTERNS = ("{f}{l}", "{f}_{l}", "{f}{n}", "{f}_{l0}{n}", "{l}{f0}", "{f}_{l}{n}", "the{f}{l0}", "{l}_{f}")
_POOL_SIZE = 400  # authors per (language, platform family); low indices are picked more often


@lru_cache(maxsize=1)
def _phrases() -> dict:
    text = resources.files("repmon.data").joinpath("demo_phrases.json").read_text(encoding="utf-8")
    return json.loads(text)


def generate(anchor: datetime) -> list[dict]:
    """The whole demo data set for the 56 days ending at `anchor` (aware), oldest first."""
    if anchor.tzinfo is None or anchor.utcoffset() is None:
        raise ValueError(f"naive anchor {anchor!r}: pass an aware datetime")
    clock = _Clock(anchor.astimezone(timezone.utc))
    rng = random.Random(_CLOCK_SEED)
    out = []
    for thread in _content():
        start = clock.spike(rng) if thread.spike else clock.place(rng, thread.lang, thread.span)
        for delay, item in thread.nodes:
            out.append({**item, "created_at": start + timedelta(seconds=delay), "raw": dict(item["raw"])})
    out.sort(key=lambda i: (i["created_at"], i["raw"]["seq"]))
    return out


class _Clock:
    """Maps uniform draws to times in the window, weighted by local hour and weekday."""

    def __init__(self, anchor: datetime):
        self.start = anchor - WINDOW
        self.hours = int(WINDOW / timedelta(hours=1))
        self._cum: dict[float, list[float]] = {}
        midnight = anchor.replace(hour=0, minute=0, second=0, microsecond=0)
        self.spike_start = midnight - timedelta(days=_SPIKE_DAYS_BEFORE, hours=-_SPIKE_START_HOUR)
        self._spike_cum = list(itertools.accumulate(_SPIKE_SHAPE))

    def _cumulative(self, offset: float) -> list[float]:
        if offset not in self._cum:
            weights = []
            for i in range(self.hours):
                local = self.start + timedelta(hours=i + 0.5 + offset)
                weights.append(_HOUR_WEIGHTS[local.hour] * _WEEKDAY_WEIGHTS[local.weekday()])
            self._cum[offset] = list(itertools.accumulate(weights))
        return self._cum[offset]

    def place(self, rng: random.Random, lang: str, span: float) -> datetime:
        """A thread start late enough to be in the window, early enough that its last reply is too."""
        cum = self._cumulative(_UTC_OFFSET[lang])
        bins = max(1, min(self.hours, int((WINDOW.total_seconds() - span) // _HOUR)))
        i = min(bisect.bisect_right(cum, rng.random() * cum[bins - 1], 0, bins), bins - 1)
        # Hour bin i covers (start + i h, start + (i+1) h]; never the window's open left edge.
        return self.start + timedelta(hours=i + 1, seconds=-rng.randrange(_HOUR))

    def spike(self, rng: random.Random) -> datetime:
        cum = self._spike_cum
        i = min(bisect.bisect_right(cum, rng.random() * cum[-1]), len(cum) - 1)
        return self.spike_start + timedelta(hours=i, seconds=rng.randrange(_HOUR))


class _Thread:
    """A root post and its replies, each with its delay in seconds after the root."""

    def __init__(self, platform: str, lang: str, spike: bool, sub: str):
        self.platform, self.lang, self.spike, self.sub = platform, lang, spike, sub
        self.nodes: list[tuple[float, dict]] = []

    @property
    def root(self) -> dict:
        return self.nodes[0][1]

    @property
    def span(self) -> float:
        return max(delay for delay, _ in self.nodes)


@lru_cache(maxsize=1)
def _content() -> tuple[_Thread, ...]:
    builder = _Builder(_phrases(), random.Random(_CONTENT_SEED))
    schedule = [key for key, n in _BASE_ROOTS.items() for _ in range(n)]
    builder.rng.shuffle(schedule)
    threads = [builder.base_thread(key) for key in schedule]
    threads += builder.spike_threads(_SPIKE_ROOTS)
    return tuple(threads)


class _Builder:
    def __init__(self, phrases: dict, rng: random.Random):
        self.p, self.common, self.rng = phrases, phrases["common"], rng
        self._per_platform: Counter[str] = Counter()
        self._seq = 0
        self._authors: dict[tuple[str, str, int], tuple[str, int]] = {}
        self._reach_by_handle: dict[str, int] = {}

    # -- threads --------------------------------------------------------------------------

    def base_thread(self, key: str) -> _Thread:
        scenario, variant = ("neutral", "offtopic") if key == "offtopic" else (key, None)
        platform = self._weighted(_PLATFORM_WEIGHTS[key])
        if key == "offtopic":
            sections = ["offtopic"]
        elif scenario == "neutral" and platform in _REVIEW:
            sections, variant = ["mixed"], "mixed"
        else:
            sections = [scenario] + ([f"app_{scenario}"] if platform in _APP_STORES else [])
        lang = self._pick_lang(sections)
        t = self._thread(platform, lang, spike=False)
        author, reach, role = self._root_author(scenario, lang, platform)
        text = self._compose(t, sections, scenario, formal=role == "journalist")
        extra = {"variant": variant or role} if variant or role else {}
        self._add(t, 0, scenario, text, author, reach, rating=self._rating(scenario, platform), **extra)
        self._replies(t, scenario)
        return self._finish(t)

    def spike_threads(self, n: int) -> list[_Thread]:
        """The outage: news from journalists, complaints from a few big accounts, then everyone."""
        langs = self.p["langs"]
        specials = [("journalist", lang) for lang, d in langs.items()
                    for p in d["influencers"] if p["role"] == "journalist" and d["templates"].get("outage_news")]
        specials += [("journalist", "en")] * 2
        specials += [("influencer", lang) for lang, d in langs.items()
                     for p in d["influencers"] if p["role"] == "influencer"]
        threads = []
        for i in range(n):
            role, lang = specials[i] if i < len(specials) else (None, None)
            platform = "x" if role else self._weighted(_PLATFORM_WEIGHTS["spike"])
            sections = ["outage_news"] if role == "journalist" else ["outage_spike"]
            if platform in _APP_STORES:
                sections.append("app_outage")
            lang = lang or self._pick_lang(sections)
            t = self._thread(platform, lang, spike=True)
            if role:
                who = self.rng.choice([p for p in langs[lang]["influencers"] if p["role"] == role])
                author, reach = who["handle"], who["reach"]
            else:
                author, reach = self._author(lang, platform)
            text = self._compose(t, sections, "outage", formal=role == "journalist")
            if platform in ("x", "mastodon") and role != "journalist" and self.rng.random() < 0.25:
                text = self._fit(text, " " + self.rng.choice(self.common["outage_tags"]), platform)
            extra = {"variant": role} if role else {}
            self._add(t, 0, "outage", text, author, reach, rating=self._rating("outage", platform), **extra)
            self._replies(t, "outage")
            threads.append(self._finish(t))
        return threads

    def _replies(self, t: _Thread, scenario: str) -> None:
        r = self.rng
        if t.platform in _REVIEW:
            if scenario in _NEGATIVE and r.random() < 0.12:
                self._own(t, "own_review", r.uniform(4 * _HOUR, 3 * _DAY))
            elif scenario == "praise" and r.random() < 0.04:
                self._own(t, "own_praise", r.uniform(4 * _HOUR, 2 * _DAY))
            return
        if scenario in COMPLAINTS or scenario == "sarcasm":
            latest = 2 * _HOUR if t.spike else 8 * _HOUR
            if r.random() < (0.12 if t.spike else 0.15):
                for _ in range(r.choice((1, 1, 2, 3))):
                    self._comment(t, "metoo", scenario, r.uniform(5 * _MIN, latest), role="metoo")
        if scenario in COMPLAINTS and not t.spike and r.random() < 0.08:
            self._followup(t, scenario)
        if scenario in COMPLAINTS or scenario in ("sarcasm", "legal"):
            if r.random() < (0.06 if t.spike else 0.10):
                section = "own_outage" if t.spike else "own_reply"
                reply = self._own(t, section, r.uniform(10 * _MIN, 90 * _MIN if t.spike else 5 * _HOUR))
                if r.random() < 0.4:
                    self._answer_own(t, reply)
        elif scenario == "question":
            if r.random() < 0.35:
                for _ in range(r.choice((1, 1, 2))):
                    self._comment(t, "advice", "neutral", r.uniform(5 * _MIN, 6 * _HOUR), role="advice")
            if r.random() < 0.18:
                self._own(t, "own_question", r.uniform(15 * _MIN, 4 * _HOUR))
        elif scenario == "praise" and r.random() < 0.04:
            self._own(t, "own_praise", r.uniform(30 * _MIN, 8 * _HOUR))
        elif scenario == "neutral" and t.platform == "reddit" and r.random() < 0.35:
            for _ in range(r.choice((1, 2))):
                self._comment(t, "neutral_comment", "neutral", r.uniform(10 * _MIN, 12 * _HOUR), role="comment")

    def _followup(self, t: _Thread, scenario: str) -> None:
        """The same author chasing their own complaint; the delay matches the days in the text."""
        r = self.rng
        days = r.randint(2, 6)
        delay = days * _DAY + r.uniform(-3 * _HOUR, 3 * _HOUR)
        text = self._compose(t, ["followup"], scenario, closer=False, days=days)
        root = t.root
        item = self._add(t, delay, scenario, text, root["author"], root["author_reach"], parent=root,
                         role="followup")
        if r.random() < 0.4:
            self._own(t, "own_reply", delay + r.uniform(30 * _MIN, 5 * _HOUR), parent=item)

    def _answer_own(self, t: _Thread, reply: dict) -> None:
        """The original author answering the brand: thanks, or just 'DM sent'."""
        thanks = self.rng.random() < 0.5
        section, scenario = ("thanks_after", "praise") if thanks else ("dm_sent", "neutral")
        delay = self._delay_of(t, reply) + self.rng.uniform(10 * _MIN, 2 * _HOUR if t.spike else 6 * _HOUR)
        text = self._compose(t, [section], scenario, closer=False)
        root = t.root
        self._add(t, delay, scenario, text, root["author"], root["author_reach"], parent=reply, role="reply")

    def _comment(self, t: _Thread, section: str, scenario: str, delay: float, **extra: Any) -> None:
        author, reach = self._author(t.lang, t.platform)
        if author == t.root["author"]:
            author, reach = self._author(t.lang, t.platform)
        text = self._compose(t, [section], scenario, closer=False)
        self._add(t, delay, scenario, text, author, reach, parent=t.root, **extra)

    def _own(self, t: _Thread, section: str, delay: float, parent: Optional[dict] = None) -> dict:
        text = self._compose(t, [section], "own_reply", closer=False, casual=False)
        return self._add(t, delay, "own_reply", text, OWN_HANDLE, _OWN_REACH, parent=parent or t.root,
                         is_own=True, role="reply")

    # -- items ----------------------------------------------------------------------------

    def _thread(self, platform: str, lang: str, spike: bool) -> _Thread:
        return _Thread(platform, lang, spike, self.rng.choice(self.p["langs"][lang]["fillers"]["subreddit"]))

    def _add(self, t: _Thread, delay: float, scenario: str, text: str, author: str, reach: int, *,
             parent: Optional[dict] = None, rating: Optional[int] = None, is_own: bool = False,
             **extra: Any) -> dict:
        platform = t.platform
        self._per_platform[platform] += 1
        nid = f"demo-{platform}-{self._per_platform[platform]:06d}"
        root_id = t.root["native_id"] if t.nodes else nid
        item = {
            "platform": platform,
            "native_id": nid,
            "url": _url(platform, nid, author, root_id, t.sub),
            "author": author,
            "author_reach": reach,
            "text": text,
            "lang": t.lang,
            "kind": "comment" if parent else ("review" if platform in _REVIEW else "post"),
            "rating": rating,
            "thread_id": root_id,
            "parent_id": parent["native_id"] if parent else None,
            "is_own": is_own,
            "raw": {"demo": True, "scenario": scenario, "seq": self._seq, **({"spike": True} if t.spike else {}),
                    **extra},
        }
        self._seq += 1
        t.nodes.append((delay, item))
        return item

    def _finish(self, t: _Thread) -> _Thread:
        if t.platform in _REVIEW and len(t.nodes) == 1:
            t.root["thread_id"] = None  # a review nobody answered is not a thread
        return t

    @staticmethod
    def _delay_of(t: _Thread, item: dict) -> float:
        return next(delay for delay, node in t.nodes if node is item)

    def _rating(self, scenario: str, platform: str) -> Optional[int]:
        if platform not in _REVIEW:
            return None
        if scenario == "praise":
            return self.rng.choice((4, 5, 5, 5))
        if scenario == "neutral":
            return 3  # review-platform "neutral" posts are the mixed reviews
        if scenario in ("sarcasm", "legal", "threat", "abuse"):
            return 1
        return self.rng.choice((1, 1, 1, 2))

    # -- text -----------------------------------------------------------------------------

    def _templates(self, lang: str, sections: list[str]) -> list[str]:
        found = self.p["langs"][lang]["templates"]
        return [tpl for s in sections for tpl in found.get(s, ())]

    def _pick_lang(self, sections: list[str]) -> str:
        langs = [lang for lang in _LANG_WEIGHTS if self._templates(lang, sections)]
        return self.rng.choices(langs, [_LANG_WEIGHTS[lang] for lang in langs])[0]

    def _compose(self, t: _Thread, sections: list[str], scenario: str, *, closer: bool = True,
                 formal: bool = False, casual: bool = True, days: Optional[int] = None) -> str:
        r, lang, platform = self.rng, t.lang, t.platform
        slots = self._slots(lang, platform, formal, days)
        text = r.choice(self._templates(lang, sections)).format_map(slots)
        tone = "neg" if scenario in COMPLAINTS else "pos" if scenario == "praise" else None
        if closer and tone and not formal:
            chance = {"reddit": 0.7, "trustpilot": 0.55}.get(platform, 0.3)
            if r.random() < chance:
                extra = r.choice(self._templates(lang, [f"{tone}_close"])).format_map(slots)
                if not _echoes(extra, text):
                    text = self._fit(text, (". " if text[-1:].isalnum() else " ") + extra, platform)
        if casual and not formal:
            if tone and platform in ("x", "mastodon") and r.random() < 0.12:
                text = self._fit(text, " " + r.choice(self.common[f"emoji_{tone}"]), platform)
            text = self._informal(text, lang)
        return text

    @staticmethod
    def _fit(text: str, extra: str, platform: str) -> str:
        return text if platform == "x" and len(text) + len(extra) > 280 else text + extra

    def _slots(self, lang: str, platform: str, formal: bool, days: Optional[int]) -> dict[str, Any]:
        r, f, common = self.rng, self.p["langs"][lang]["fillers"], self.common
        city, city2 = r.sample(f["city"], 2)
        comp, comp2 = r.sample(BRAND["competitors"], 2)
        if formal or platform in _REVIEW:
            brand = r.choice(("Tidewell", "Tidewell", "Tidewell Mobile"))
        elif platform in ("x", "mastodon"):
            brand = r.choices(("@tidewell", "Tidewell", "tidewell", "Tidewell Mobile"), (55, 25, 10, 10))[0]
        else:
            brand = r.choices(("Tidewell", "tidewell", "Tidewell Mobile"), (60, 25, 15))[0]
        numbers = {"days": days or r.randint(2, 9), "hours": r.randint(2, 6), "gb": r.choice(common["gb"])}
        if lang == "fa" and r.random() < 0.75:  # most Persian writers use Persian digits
            numbers = {k: str(v).translate(_FA_DIGITS) for k, v in numbers.items()}
        return {
            "brand": brand,
            "help": OWN_HANDLE if platform in ("x", "mastodon") else "Tidewell",
            "phone": r.choice(common["phones"]),
            "plan": r.choice(common["plans"]),
            "city": city, "city2": city2, "comp": comp, "comp2": comp2,
            "amount": r.choice(f["amount"]),
            "order": f"TW-{r.randint(100000, 999999)}",
            "weekday": r.choice(f["weekday"]),
            "agent": r.choice(f["agent"]),
            **numbers,
        }

    def _informal(self, text: str, lang: str) -> str:
        """The everyday mess of real posts: missing accents and half-spaces, lower case, typos."""
        r = self.rng
        if lang == "fa":
            return text.replace("\u200c", " ") if r.random() < 0.3 else text
        # Writing Romanian without diacritics is the norm on many keyboards, so it is common here.
        if r.random() < (0.45 if lang == "ro" else 0.08):
            text = _strip_accents(text)
        roll = r.random()
        if roll < 0.07:
            text = text[:1].lower() + text[1:]
        elif roll < 0.10:
            text = text.lower()
        if r.random() < 0.06 and text.endswith("."):
            text = text[:-1]
        if r.random() < 0.05:
            text = _typo(text, r)
        return text

    # -- authors --------------------------------------------------------------------------

    def _root_author(self, scenario: str, lang: str, platform: str) -> tuple[str, int, Optional[str]]:
        r = self.rng
        if scenario == "spam":
            handle = r.choice(self.common["spam_bots"])
            return handle, self._reach_by_handle.setdefault(handle, r.randint(3, 400)), None
        if platform == "x" and r.random() < 0.015:
            role = "journalist" if scenario == "neutral" else "influencer"
            people = [p for p in self.p["langs"][lang]["influencers"] if p["role"] == role]
            if people and (scenario in COMPLAINTS or scenario in ("praise", "neutral")):
                who = r.choice(people)
                return who["handle"], who["reach"], role
        return (*self._author(lang, platform), None)

    def _author(self, lang: str, platform: str) -> tuple[str, int]:
        family = "review" if platform in _REVIEW else platform
        key = (lang, family, int(_POOL_SIZE * self.rng.random() ** 1.35))
        if key not in self._authors:
            handle, reach = self._make_author(*key)
            self._authors[key] = handle, self._reach_by_handle.setdefault(handle, reach)
        return self._authors[key]

    def _make_author(self, lang: str, family: str, idx: int) -> tuple[str, int]:
        # A private RNG per pool slot keeps each person's name and reach fixed however often they post.
        r = random.Random(f"repmon-demo/{lang}/{family}/{idx}")
        names = self.p["langs"][lang]["names"]
        i, j = r.randrange(len(names["first"])), r.randrange(len(names["last"]))
        first, last = names["first"][i], names["last"][j]
        if family == "review":
            return r.choice((f"{first} {last}", f"{first} {last[0]}.", first, f"{first}{r.randint(1, 99)}")), 0
        f = _ascii(names.get("first_latin", names["first"])[i]).lower()
        l = _ascii(names.get("last_latin", names["last"])[j]).lower()
        n = str(r.randint(1, 99) if r.random() < 0.6 else r.randint(1975, 2007))
        handle = r.choice(_HANDLE_PATTERNS).format(f=f, l=l, n=n, f0=f[0], l0=l[0])
        if len(handle) > 15:  # X's limit
            handle = f"{f}{n}"
        if family == "reddit":
            if r.random() < 0.4:
                handle = "-".join((r.choice(self.common["reddit_adjectives"]),
                                   r.choice(self.common["reddit_nouns"]), str(r.randint(10, 9999))))
            return handle, int(r.lognormvariate(3.0, 1.3))
        if family == "mastodon":
            return f"@{handle}@{r.choice(self.common['instances'])}", min(int(r.lognormvariate(4.6, 1.2)), 20_000)
        return "@" + handle, min(int(r.lognormvariate(5.4, 1.4)), 30_000)

    def _weighted(self, weights: dict[str, int]) -> str:
        return self.rng.choices(list(weights), list(weights.values()))[0]


_FA_DIGITS = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")
_NAMES = ("tidewell", "orbitel", "skyfern")


def _strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text)
    return unicodedata.normalize("NFC", "".join(c for c in decomposed if unicodedata.category(c) != "Mn"))


def _ascii(name: str) -> str:
    return _strip_accents(name).replace("ı", "i").encode("ascii", "ignore").decode()


def _echoes(closer: str, text: str) -> bool:
    """True if the closer repeats a word of the text ("Bravo @tidewell! Bravo."), which reads like a bot."""
    words = {w.strip("!¡.?¿,").casefold() for w in closer.split()}
    return any(len(w) >= 5 or w == closer.split()[0].strip("!¡.?¿,").casefold()
               for w in words if w and w in text.casefold())


def _typo(text: str, rng: random.Random) -> str:
    words = text.split(" ")
    # Names stay intact: a misspelt brand would silently fall out of keyword matching.
    candidates = [i for i, w in enumerate(words)
                  if len(w) >= 5 and w.isalpha() and not any(n in w.casefold() for n in _NAMES)]
    if not candidates:
        return text
    i = rng.choice(candidates)
    w = words[i]
    k = rng.randrange(1, len(w) - 2)
    words[i] = w[:k] + w[k + 1] + w[k] + w[k + 2:]
    return " ".join(words)


def _url(platform: str, nid: str, author: str, root_id: str, sub: str) -> str:
    if platform == "x":
        return f"https://x.example/{author.lstrip('@')}/status/{nid}"
    if platform == "mastodon":
        user, _, instance = author.lstrip("@").partition("@")
        return f"https://{instance or 'mastodon.example'}/@{user}/{nid}"
    if platform == "reddit":
        base = f"https://reddit.example/r/{sub}/comments/{root_id}/"
        return base if nid == root_id else f"{base}comment/{nid}/"
    if platform == "google_play":
        base = f"https://play.example/store/apps/details?id=example.tidewell.app&reviewId={root_id}"
    elif platform == "app_store":
        base = f"https://apps.example/app/my-tidewell/id6400000000?review={root_id}"
    else:
        base = f"https://trustpilot.example/reviews/{root_id}"
    return base if nid == root_id else f"{base}#reply-{nid}"
