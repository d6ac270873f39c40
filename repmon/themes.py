"""Recurring complaint themes per ISO week: "learn from complaints" (PLAYBOOK.md, rules for the team).

A theme is a category plus a key phrase ("billing · charged twice"): a 1-3 word phrase several of the
week's complaints share, once @handles, URLs, numbers, the brand's name and keywords and stop words
(repmon/data/stopwords.toml) are gone. Phrases more common than in the category's earlier weeks win,
as do longer ones. Each post joins one theme at most; the rest of a category is "<category> (other)".
Complaints are flagged posts that are not the brand's own, praise or questions. Category "other" is
kept: a flagged post the scorer could not place is still a complaint, maybe one no category foresaw.
"""

from __future__ import annotations

import hashlib
import heapq
import math
import re
import tomllib
import unicodedata
from collections import Counter, defaultdict, namedtuple
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from functools import cache
from importlib.resources import files
from typing import Optional

import sqlalchemy as sa
from sqlmodel import select

from repmon import store
from repmon.errors import RepmonError
from repmon.matching import _compile  # the brand's terms, in the syntax matching reads them
from repmon.models import Brand, Mention, MentionHour, Score, ThemeWeek, utcnow

NOT_COMPLAINTS = ("praise", "question")
# The dashboard groups in Python on every uncached view, so each week reads at most this many posts
# (the widest-reaching ones; about 3 s for five full weeks). Above it, counts cover those posts only.
MAX_POSTS = 5000
MIN_POSTS = 2  # a phrase in one post is not a recurring theme
EXAMPLES = 3
EXAMPLE_CHARS = 280

_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_HANDLE = re.compile(r"(?<!\w)@[\w.]+(?:@[\w.-]+)?")  # @name, and fediverse @name@instance
_NUMBER = re.compile(r"[\w-]*\d[\w-]*")  # 29.99, 5g, TW-48213: never a theme, and they break phrases
_NOT_WORD = re.compile(r"[^\w\s]|_")  # punctuation, emoji, '#': phrases never span them
_CANT = re.compile(r"\b(ca|wo)n['’]t\b")
_NOT = re.compile(r"n['’]t\b")
_ARABIC_TO_PERSIAN = str.maketrans({"ي": "ی", "ى": "ی", "ك": "ک", "\u200c": "", "\u0640": ""})
_ROMANIAN_CEDILLA = str.maketrans({"ş": "ș", "ţ": "ț"})


@dataclass
class Example:
    mention_id: int
    text: str  # untrusted post text: show as plain text, never markdown or HTML
    url: Optional[str]
    author: str
    author_reach: int


@dataclass
class Theme:
    category: str
    phrase: str  # "" for the category's posts that share no phrase with others
    count: int
    previous: list[int]  # the weeks before, oldest first
    trend: str  # new | rising | steady | falling; see trend()
    share: float  # of the week's complaints
    languages: list[str]  # most frequent first
    examples: list[Example]  # widest reach first
    week: str

    @property
    def label(self) -> str:
        return f"{self.category} · {self.phrase}" if self.phrase else f"{self.category} (other)"


def week_bounds(week: Optional[str] = None, now: Optional[datetime] = None) -> tuple[str, datetime, datetime]:
    """ISO week 'YYYY-Www' -> (label, Monday 00:00 UTC, next Monday); default: the current week."""
    if week is None:
        monday = (now or utcnow()).astimezone(timezone.utc).date()
        monday -= timedelta(days=monday.weekday())
    else:
        try:
            year, num = week.strip().upper().split("-W")
            monday = date.fromisocalendar(int(year), int(num), 1)
        except ValueError:
            raise RepmonError(f"week {week!r}: expected an ISO week like 2026-W47") from None
    iso = monday.isocalendar()
    start = datetime.combine(monday, time.min, tzinfo=timezone.utc)
    return f"{iso.year}-W{iso.week:02d}", start, start + timedelta(days=7)


def trend(count: int, previous: list[int], so_far: Optional[list[int]] = None) -> str:
    """new: no posts in any earlier week. rising / falling: at least half as many again as the
    earlier weeks' mean (or at most two thirds of it) and at least 2 posts apart. Else steady.
    `so_far`: the earlier weeks cut at the point the current, unfinished week has reached."""
    if not any(previous):
        return "new"
    base = previous if so_far is None else so_far
    mean = sum(base) / len(base)
    if count >= 1.5 * mean and count - mean >= 2:
        return "rising"
    if count * 1.5 <= mean and mean - count >= 2:
        return "falling"
    return "steady"


def weekly_themes(url: str, week: Optional[str] = None, brand_id: Optional[int] = None, weeks_back: int = 4,
                  limit: int = 10, now: Optional[datetime] = None) -> list[Theme]:
    """The week's complaint themes, most posts first, with the counts of the `weeks_back` weeks before."""
    if weeks_back < 1:
        raise ValueError("weeks_back must be at least 1: a trend needs an earlier week")
    label, start, end = week_bounds(week, now)
    removed = _brand_terms(url, brand_id)
    current = _week(url, start, brand_id, removed, now)
    if not current:
        return []
    categories = sorted({p.category for p in current})
    earlier = [[p for p in _week(url, start - timedelta(weeks=w), brand_id, removed, now)
                if p.category in categories] for w in range(weeks_back, 0, -1)]
    # A week still running is compared with the same part of the earlier weeks, or every theme
    # would look like it is falling on a Monday morning.
    elapsed = min((now or utcnow()) - start, end - start)
    themes = []
    for category in categories:
        posts = [p for p in current if p.category == category]
        before = [[p for p in week_posts if p.category == category] for week_posts in earlier]
        groups = _group(category, posts, [p for week_posts in before for p in week_posts])
        phrases = [phrase for phrase, _ in groups]
        full = [Counter(_assigned(week_posts, phrases)) for week_posts in before]
        so_far = [Counter(_assigned([p for p in week_posts if p.offset < elapsed], phrases)) for week_posts in before]
        for phrase, members in groups:
            previous = [c[phrase] for c in full]
            themes.append(Theme(
                category=category, phrase=phrase, count=len(members), previous=previous,
                trend=trend(len(members), previous, [c[phrase] for c in so_far]), share=len(members) / len(current),
                languages=[lang for lang, _ in Counter(p.lang for p in members).most_common()],
                # A post removed at the source is still counted, but its link is dead: it comes last.
                examples=[Example(p.id, p.text, p.url, p.author, p.reach)
                          for p in sorted(members, key=lambda p: (p.deleted, -p.reach, p.id))[:EXAMPLES]],
                week=label,
            ))
    themes.sort(key=lambda t: (-t.count, t.phrase == "", t.label))
    return _with_example_texts(url, themes[:limit])


def _with_example_texts(url: str, themes: list[Theme]) -> list[Theme]:
    """A cached week carries no text: read the few example posts' text, link and author by id."""
    ids = {e.mention_id for t in themes for e in t.examples}
    with store.session(url) as s:
        found = {i: (text, link, author) for i, text, link, author in s.exec(
            select(Mention.id, Mention.text, Mention.url, Mention.author).where(Mention.id.in_(ids))).all()}
    for t in themes:
        t.examples = [Example(e.mention_id, _cut(found[e.mention_id][0]), found[e.mention_id][1],
                              found[e.mention_id][2], e.author_reach) for e in t.examples if e.mention_id in found]
    return themes


def warm(url: str, now: Optional[datetime] = None) -> int:
    """Work out and keep the phrases of every brand's running week and the weeks the Themes page
    compares it with, so the page's first view does not pay for them (the scheduler's themes job).
    Returns how many brands were done."""
    with store.session(url) as s:
        brand_ids = s.exec(select(Brand.id)).all()
    now = now or utcnow()
    for brand_id in brand_ids:
        weekly_themes(url, None, brand_id, now=now)
        weekly_themes(url, week_bounds(None, now - timedelta(weeks=1))[0], brand_id, now=now)  # the last full one
    return len(brand_ids)


def key_phrases(text: str, lang: str = "und", removed: Optional[re.Pattern] = None) -> set[str]:
    """The 1-3 word phrases a post offers as theme names. A phrase never starts or ends with a
    stop word (a negation may start one: "no signal") and never spans punctuation or a number."""
    lang = re.split(r"[-_]", (lang or "und").strip().lower())[0]  # "pt-BR" uses the "pt" lists
    stop, negation = _stopwords(lang)
    text = _HANDLE.sub(" . ", _URL.sub(" . ", text))
    if removed is not None:
        text = removed.sub(" . ", text)
    text = _normalise(_NUMBER.sub(" . ", text), lang)
    found = set()
    for segment in _NOT_WORD.split(text):
        words = segment.split()
        for n in (1, 2, 3):
            for i in range(len(words) - n + 1):
                first, last = words[i], words[i + n - 1]
                if not (last in stop or last in negation or first in stop or min(len(first), len(last)) < 2):
                    found.add(" ".join(words[i:i + n]))
    return found


# One complaint as grouping needs it; offset is the time since the start of its week.
_Post = namedtuple("_Post", "id text url author reach lang category offset deleted phrases")


def _posts(url: str, start: datetime, end: datetime, brand_id: Optional[int], removed: Optional[re.Pattern],
           known: dict[int, frozenset]) -> list[_Post]:
    """The week's complaints, widest reach first. Phrases come from `known` (by mention id) where
    they were worked out before; only the other posts' texts are read and cut into phrases."""
    q = (
        select(Mention.id, Mention.author_reach, Score.lang, Mention.lang, Score.category, Mention.created_at,
               Mention.deleted_at)
        .join(Score, Score.mention_id == Mention.id)
        .where(Score.needs_response.is_(True), Score.category.not_in(NOT_COMPLAINTS), Mention.is_own.is_(False),
               Mention.created_at >= start, Mention.created_at < end)
        .order_by(Mention.author_reach.desc(), Mention.id)
        .limit(MAX_POSTS)
    )
    if brand_id is not None:
        q = q.where(Mention.brand_id == brand_id)
    with store.session(url) as s:
        rows = s.exec(q).all()
        missing = [r[0] for r in rows if r[0] not in known]
        texts = {}
        for i in range(0, len(missing), 900):  # SQLite allows ~1,000 parameters per statement
            texts.update(s.exec(select(Mention.id, Mention.text).where(Mention.id.in_(missing[i:i + 900]))).all())
    posts = []
    for mid, reach, score_lang, mention_lang, category, created, deleted in rows:
        lang = score_lang if score_lang and score_lang != "und" else (mention_lang or "und")
        phrases = known[mid] if mid in known else key_phrases(texts[mid], lang, removed)
        posts.append(_Post(mid, "", None, "", reach or 0, lang, category, created - start, deleted is not None, phrases))
    return posts


def _week(url: str, start: datetime, brand_id: Optional[int], removed: Optional[re.Pattern],
          now: Optional[datetime]) -> list[_Post]:
    """A week's complaints with their key phrases (no text: examples are read by id at the end).
    Cutting posts into phrases is most of this page's cost (five weeks took 3 s at a million
    mentions), so each week's phrases are kept in the themeweek table, by mention id. A finished
    week is served from it whole while its fingerprint holds: the same counts of flagged and of
    all posts (from the hourly rollup). The running week re-reads its list of posts each time
    and cuts only the new ones. Other brand terms, stop words or cache layout start afresh."""
    end = start + timedelta(weeks=1)
    finished = end <= (now or utcnow())
    label = week_bounds(None, start)[0]
    settings = hashlib.sha256(f"{_CACHE_FORMAT}:{removed.pattern if removed else ''}:{_STOPWORDS_VERSION}"
                              .encode()).hexdigest()[:31]
    data = "running"
    with store.session(url) as s:
        if finished:
            h = MentionHour
            counts = select(sa.func.sum(h.needs_response), sa.func.sum(h.volume)).where(h.hour >= start, h.hour < end)
            if brand_id is not None:
                counts = counts.where(h.brand_id == brand_id)
            flagged, volume = s.exec(counts).one()
            data = hashlib.sha256(f"{flagged or 0}:{volume or 0}".encode()).hexdigest()[:32]
        fingerprint = f"{settings}:{data}"
        row = s.exec(select(ThemeWeek).where(ThemeWeek.brand_id == (brand_id or 0), ThemeWeek.week == label)).first()
        cached = row.posts if row is not None and row.fingerprint.startswith(settings) else []
        if finished and row is not None and row.fingerprint == fingerprint:
            # phrases are one newline-joined string: decoding one string beats decoding thirty
            return [_Post(i, "", None, "", reach, lang, category, timedelta(seconds=offset), deleted,
                          frozenset(phrases.split("\n")) if phrases else frozenset())
                    for i, category, offset, lang, reach, deleted, phrases in cached]
    known = {p[0]: frozenset(p[6].split("\n")) if p[6] else frozenset() for p in cached}
    posts = _posts(url, start, end, brand_id, removed, known)
    if finished or any(p.id not in known for p in posts):
        _store_week(url, brand_id, label, fingerprint, posts)
    return posts


def _store_week(url: str, brand_id: Optional[int], label: str, fingerprint: str, posts: list[_Post]) -> None:
    stored = [[p.id, p.category, p.offset.total_seconds(), p.lang, p.reach, p.deleted, "\n".join(sorted(p.phrases))]
              for p in posts]
    try:
        with store.session(url) as s:
            row = s.exec(select(ThemeWeek).where(ThemeWeek.brand_id == (brand_id or 0),
                                                 ThemeWeek.week == label)).first()
            row = row or ThemeWeek(brand_id=brand_id or 0, week=label, fingerprint=fingerprint)
            row.fingerprint, row.posts, row.computed_at = fingerprint, stored, utcnow()
            s.add(row)
    except sa.exc.IntegrityError:  # another viewer stored the same week at the same moment
        pass


def _group(category: str, posts: list[_Post], before: list[_Post]) -> list[tuple[str, list[_Post]]]:
    """Greedy: the best phrase takes its posts, then the next best among the posts left, and so on.
    The best has many posts, more words, and is over-represented against the earlier weeks."""
    holders: dict[str, set[int]] = defaultdict(set)
    for i, p in enumerate(posts):
        for phrase in p.phrases:
            holders[phrase].add(i)
    # "outage · outage" says nothing the category does not.
    candidates = {phrase: ids for phrase, ids in holders.items() if len(ids) >= MIN_POSTS and phrase != category}
    seen_before = Counter(phrase for p in before for phrase in p.phrases & candidates.keys())

    def weight(phrase: str) -> float:
        length = 1 + 0.5 * phrase.count(" ")  # "charged twice" over "charged" unless "charged" is 1.5x as common
        if not before:
            return length
        # Smoothed rate this week / rate before, capped so one rare phrase cannot outweigh a common one.
        lift = ((len(candidates[phrase]) + 0.5) / (len(posts) + 1)) / ((seen_before[phrase] + 0.5) / (len(before) + 1))
        return length * math.sqrt(min(max(lift, 0.25), 4.0))

    weights = {phrase: weight(phrase) for phrase in candidates}
    heap = [(-len(ids) * weights[phrase], phrase) for phrase, ids in candidates.items()]
    heapq.heapify(heap)
    taken: set[int] = set()
    groups = []
    # Lazy greedy: a phrase's score only drops as posts are taken, so a popped phrase whose fresh
    # score still beats the next stale one is the true best.
    while heap:
        _, phrase = heapq.heappop(heap)
        free = candidates[phrase] - taken
        if len(free) < MIN_POSTS:
            continue
        score = len(free) * weights[phrase]
        if heap and score < -heap[0][0]:
            heapq.heappush(heap, (-score, phrase))
            continue
        groups.append((phrase, [posts[i] for i in sorted(free)]))
        taken |= free
    rest = [p for i, p in enumerate(posts) if i not in taken]
    if rest:
        groups.append(("", rest))
    return groups


def _assigned(posts: list[_Post], phrases: list[str]) -> list[str]:
    """Each earlier post's theme, by the same rule as this week's: the first chosen phrase it has."""
    # Look the post's ~30 phrases up in the chosen ones (a category can have hundreds), not the reverse.
    rank = {ph: i for i, ph in enumerate(phrases) if ph}
    themes = []
    for p in posts:
        hits = [rank[ph] for ph in p.phrases if ph in rank]
        themes.append(phrases[min(hits)] if hits else "")
    return themes


def _brand_terms(url: str, brand_id: Optional[int]) -> Optional[re.Pattern]:
    """The brand's name and keywords are in nearly every post: they would be every week's top phrase."""
    q = select(Brand.name, Brand.keywords)
    if brand_id is not None:
        q = q.where(Brand.id == brand_id)
    with store.session(url) as s:
        rows = s.exec(q).all()
    return _compile([term for name, keywords in rows for term in (f'"{name}"', *(keywords or []))])


def _normalise(text: str, lang: str) -> str:
    text = unicodedata.normalize("NFC", text).casefold().translate(_ARABIC_TO_PERSIAN)
    if lang == "ro":
        text = text.translate(_ROMANIAN_CEDILLA)
    # English contractions, so "doesn't work" gives "not work" like "does not work" does.
    text = _NOT.sub(" not", _CANT.sub(lambda m: ("can" if m[1] == "ca" else "will") + " not", text))
    # Marks left after NFC (Arabic-script vowel signs, Turkish dotted I's dot) would split words.
    if not text.isascii():  # ASCII has none, and the per-character test is half of this function's time
        text = "".join(c for c in text if unicodedata.category(c) != "Mn")
    return text.replace("'", " ").replace("’", " ")


def _cut(text: str) -> str:
    return text if len(text) <= EXAMPLE_CHARS else text[:EXAMPLE_CHARS - 1].rstrip() + "…"


_CACHE_FORMAT = 2  # bump when the cached post layout changes: old rows then no longer match
_STOPWORDS_VERSION = hashlib.sha256(files("repmon.data").joinpath("stopwords.toml").read_bytes()).hexdigest()[:12]


@cache
def _stopwords(lang: str) -> tuple[frozenset[str], frozenset[str]]:
    """(stop, negation) for a language plus English; all languages for one without lists."""
    lists = tomllib.loads(files("repmon.data").joinpath("stopwords.toml").read_text(encoding="utf-8"))
    chosen = [(lang, lists[lang]), ("en", lists["en"])] if lang in lists else list(lists.items())
    stop = frozenset(_normalise(w, code) for code, table in chosen for w in table["stop"])
    return stop, frozenset(_normalise(w, code) for code, table in chosen for w in table["negation"]) - stop
