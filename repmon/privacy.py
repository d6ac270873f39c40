"""Right to erasure (`forget`) and retention (`prune`).

`forget` removes one person, named by their handle, in one transaction:
- their posts and everything hanging off a post (score, revisions, case links, feedback labels,
  and any table added later with a foreign key to `mention`), found through the schema's
  foreign keys rather than a list, so a new table cannot be forgotten here;
- their cases once no post is left in them, with everything hanging off a case; a case that
  still holds other people's posts stays, under another author, with the handle scrubbed from
  its reply, notes and history;
- alerts naming them or their cases: pending ones are deleted, the rest (already sent) keep
  their row for the record but lose their content, since it quotes the post;
- the handle in other people's data. Other people's posts stay (they are not this person's
  data), but an @handle, u/handle or /handle in them, and any value that is exactly the
  handle (a reply-to field in a raw payload, say), becomes "[removed]". The bare word is left
  in other people's text: a handle such as "sam" or "apple" is also an ordinary word there.
  Every text and JSON column of every table is searched, so this too covers tables added later.
Slack keeps its own copy of alerts already sent; delete those messages in Slack.

`prune` applies the retention periods in batches of BATCH mentions, one transaction each, so a
large SQLite store is never locked for long. Posts in open cases are kept until the case closes.
Logs name counts only, never the person.
"""

from __future__ import annotations

import json
import logging
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable, Optional

import sqlalchemy as sa
from sqlmodel import Session, SQLModel, select

from repmon import rollups, store
from repmon.config import Config
from repmon.errors import RepmonError
from repmon.models import OPEN_STATUSES, Case, CaseMention, Mention, utcnow

log = logging.getLogger(__name__)

ERASED = "[removed]"
REDACTED_ALERT = {"text": "(alert content removed at an erasure request)", "blocks": []}
BATCH = 10_000  # mentions per prune transaction
CHUNK = 1000  # ids per IN list
Counts = dict[str, dict[str, int]]


@dataclass(frozen=True)
class Person:
    key: str  # the handle, lower-cased, without @ or u/ ("lucy", or "lucy@mastodon.social")
    forms: frozenset[str]  # lower-cased author values that are this person

    @classmethod
    def of(cls, author: str) -> "Person":
        low = author.strip().lower()
        key = (low[2:] if low.startswith("u/") else low).lstrip("@")
        if not key:
            raise RepmonError("--author: give the person's handle, e.g. @lucy or u/lucy")
        # On the fediverse user@server names one account; the same user name elsewhere is someone else.
        forms = {"@" + key} if "@" in key else {key, "@" + key, "u/" + key}
        return cls(key, frozenset(forms))

    @property
    def _tail(self) -> str:
        return re.escape(self.key) + r"(?![\w-]|\.\w)"  # "lucy" is not "lucy_b" nor "lucy.bsky.social"

    def scrub(self, value: Any, bare: bool = False) -> Any:
        """`value` (a string or JSON) with this person's handle replaced. `bare`: the plain word
        too, for fields about this person's own case."""
        if isinstance(value, dict):
            return {k: self.scrub(v, bare) for k, v in value.items()}
        if isinstance(value, list):
            return [self.scrub(v, bare) for v in value]
        if not isinstance(value, str):
            return value
        if value.strip().lower() in self.forms:
            return ERASED
        return re.sub((r"(?<!\w)" if bare else r"(?<=[@/])") + self._tail, ERASED, value, flags=re.IGNORECASE)

    def named_in(self, value: Any) -> bool:
        text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value
        return re.search(r"(?<!\w)" + self._tail, text, re.IGNORECASE) is not None

    def is_author(self, column: Any) -> Any:
        return sa.func.lower(column).in_(sorted(self.forms))

    def mentioned(self, column: Any) -> Any:
        """A cheap SQL pre-filter: the column's text contains the handle somewhere."""
        text = sa.func.lower(sa.cast(column, sa.Text))
        escaped = json.dumps(self.key)[1:-1]  # how JSON text spells a non-ASCII handle
        return sa.or_(*(text.contains(k, autoescape=True) for k in {self.key, escaped}))


def _counts() -> defaultdict:
    return defaultdict(lambda: defaultdict(int))


def _plain(counts: defaultdict) -> Counts:
    plain = {t: {what: n for what, n in c.items() if n} for t, c in sorted(counts.items())}
    return {t: c for t, c in plain.items() if c}


def _tables(s: Session) -> dict[str, sa.Table]:
    present = set(sa.inspect(s.connection()).get_table_names())
    return {t.name: t for t in SQLModel.metadata.sorted_tables if t.name in present}


def _chunks(values: Iterable[Any], size: int = CHUNK) -> Iterable[list]:
    values = list(values)
    for i in range(0, len(values), size):
        yield values[i:i + size]


def _referencing(tables: dict[str, sa.Table], target: sa.Table) -> list[tuple[sa.Table, sa.Column, sa.Column]]:
    """(table, its column, the column of `target` it refers to) for every foreign key into `target`."""
    return [(t, fk.parent, target.c[fk.column.name]) for t in tables.values() for fk in t.foreign_keys
            if fk.column.table.name == target.name]


def _delete(s: Session, tables: dict[str, sa.Table], table: sa.Table, column: sa.Column, values: Iterable[Any],
            counts: defaultdict, alerts: Optional[Callable[[list], None]] = None) -> None:
    """Delete the rows of `table` whose `column` is in `values`, after every row that refers to
    them. `alerts` decides instead what happens to outbox rows that refer to them."""
    for chunk in _chunks(values):
        for ref_table, ref_column, target in _referencing(tables, table):
            keys = chunk if target is column else list(s.execute(select(target).where(column.in_(chunk))).scalars())
            if alerts is not None and ref_table.name == "alertoutbox":
                alerts(keys)
            else:
                _delete(s, tables, ref_table, ref_column, keys, counts, alerts)
        counts[table.name]["deleted"] += s.execute(sa.delete(table).where(column.in_(chunk))).rowcount


def _cases_of(s: Session, mention_ids: list[int]) -> set[int]:
    found: set[int] = set()
    for chunk in _chunks(mention_ids):
        found |= set(s.exec(select(CaseMention.case_id).where(CaseMention.mention_id.in_(chunk))).all())
    return found


def _still_linked(s: Session, case_ids: Iterable[int]) -> set[int]:
    """Those of `case_ids` that still hold a post."""
    found: set[int] = set()
    for chunk in _chunks(case_ids):
        found |= set(s.exec(select(CaseMention.case_id).where(CaseMention.case_id.in_(chunk))).all())
    return found


# -- erasure -------------------------------------------------------------------------------------

def matches(cfg: Config, author: str, platform: Optional[str] = None) -> list[tuple[str, str, int]]:
    """(author as stored, platform, posts) for each account `forget` would erase."""
    person = Person.of(author)
    q = (select(Mention.author, Mention.platform, sa.func.count()).where(person.is_author(Mention.author))
         .group_by(Mention.author, Mention.platform).order_by(Mention.platform, Mention.author))
    if platform:
        q = q.where(Mention.platform == platform)
    with store.session(cfg.database.url) as s:
        return [(a, p, int(n)) for a, p, n in s.exec(q).all()]


def forget(cfg: Config, author: str, platform: Optional[str] = None, dry_run: bool = False) -> Counts:
    """Erase one person (see the module's docstring); returns {table: {"deleted"|"scrubbed": rows}}.
    `dry_run` does all of it and rolls back, so its counts are exactly what a real run does."""
    person = Person.of(author)
    counts = _counts()
    with Session(store.get_engine(cfg.database.url), expire_on_commit=False) as s:
        try:
            _forget(s, person, platform, counts)
        except Exception:
            s.rollback()
            raise
        s.rollback() if dry_run else s.commit()
    log.info("forget%s: %s", " (dry run)" if dry_run else "",
             ", ".join(f"{t} {k}={n}" for t, c in _plain(counts).items() for k, n in c.items()) or "nothing found")
    return _plain(counts)


def _forget(s: Session, person: Person, platform: Optional[str], counts: defaultdict) -> None:
    tables = _tables(s)
    mention, case = tables["mention"], tables["case"]
    on_platform = (lambda t: [t.c.platform == platform]) if platform else (lambda t: [])
    posts = list(s.execute(select(mention.c.id).where(person.is_author(mention.c.author), *on_platform(mention)))
                 .scalars())
    cases = set(s.execute(select(case.c.id).where(person.is_author(case.c.author), *on_platform(case))).scalars())
    cases |= _cases_of(s, posts)
    rollups.remove(s, posts)
    _delete(s, tables, mention, mention.c.id, posts, counts)
    if posts:  # cached theme weeks hold the posts' ids and key phrases; the next view rebuilds them
        counts["themeweek"]["deleted"] += s.execute(sa.delete(tables["themeweek"])).rowcount
    kept = _still_linked(s, cases)
    _delete(s, tables, case, case.c.id, sorted(cases - kept), counts,
            alerts=lambda ids: _retire_alerts(s, tables["alertoutbox"].c.case_id.in_(ids), counts))
    for case_id in sorted(kept):
        _keep_case(s, tables, person, case_id, counts)
    outbox = tables["alertoutbox"]
    candidates = s.execute(select(outbox.c.id, outbox.c.payload).where(person.mentioned(outbox.c.payload))).all()
    naming = [i for i, payload in candidates if person.named_in(payload)]
    if naming:
        _retire_alerts(s, outbox.c.id.in_(naming), counts)
    _scrub_everywhere(s, tables, person, platform, counts)


def _retire_alerts(s: Session, which: Any, counts: defaultdict) -> None:
    """Pending alerts go; the others stay as a record of what was sent, without the content."""
    outbox = SQLModel.metadata.tables["alertoutbox"]
    counts["alertoutbox"]["deleted"] += s.execute(
        sa.delete(outbox).where(which, outbox.c.status == "pending")).rowcount
    counts["alertoutbox"]["scrubbed"] += s.execute(
        sa.update(outbox).where(which, outbox.c.status != "pending")
        .values(payload=REDACTED_ALERT, case_id=None)).rowcount


def _keep_case(s: Session, tables: dict[str, sa.Table], person: Person, case_id: int, counts: defaultdict) -> None:
    """A case with other people's posts left: it moves to the earliest remaining author, and the
    handle goes from its fields and history, the plain word too (there it can only mean them)."""
    row = s.get(Case, case_id)
    if row.author.strip().lower() in person.forms:
        row.author = s.exec(select(Mention.author).join(CaseMention, CaseMention.mention_id == Mention.id)
                            .where(CaseMention.case_id == case_id).order_by(Mention.created_at)).first() or ERASED
        s.add(row)
        s.flush()
    case = tables["case"]
    targets = [(case, case.c.id)] + [(t, c) for t, c, _ in _referencing(tables, case) if t.name != "alertoutbox"]
    for table, column in targets:
        _scrub_rows(s, table, person, [column == case_id], counts, bare=True)


def _text_columns(table: sa.Table) -> list[sa.Column]:
    keys = {c.name for c in table.primary_key.columns} | {fk.parent.name for fk in table.foreign_keys}
    return [c for c in table.columns if c.name not in keys and _is_text(c)]


def _is_text(column: sa.Column) -> bool:
    # SQLModel's str columns are AutoString, a TypeDecorator: look at the type it stands for.
    kind = column.type.impl if isinstance(column.type, sa.types.TypeDecorator) else column.type
    return isinstance(kind, (sa.String, sa.JSON))


def _scrub_rows(s: Session, table: sa.Table, person: Person, where: list, counts: defaultdict,
                bare: bool = False) -> None:
    columns = _text_columns(table)
    if not columns:
        return
    pk = list(table.primary_key.columns)
    # One pass over the table however many text columns it has: on a million mentions each pass is a full scan.
    rows = s.execute(select(*pk, *columns).where(*where, sa.or_(*(person.mentioned(c) for c in columns)))).all()
    for row in rows:
        values = dict(zip((c.name for c in columns), row[len(pk):]))
        new = {name: person.scrub(v, bare) for name, v in values.items()}
        changed = {name: v for name, v in new.items() if v != values[name]}
        if changed:
            s.execute(sa.update(table).where(*(c == v for c, v in zip(pk, row))).values(changed))
            counts[table.name]["scrubbed"] += 1


def _scrub_everywhere(s: Session, tables: dict[str, sa.Table], person: Person, platform: Optional[str],
                      counts: defaultdict) -> None:
    """The handle in every text and JSON column of every table. With a platform, rows tied to
    another platform (through a platform column, or a foreign key to a row with one) are left."""
    for table in tables.values():
        where = []
        if platform and "platform" in table.c:
            where.append(table.c.platform == platform)
        elif platform:
            for fk in table.foreign_keys:
                parent = fk.column.table
                if "platform" in parent.c:
                    on = select(fk.column).where(parent.c.platform == platform)
                    where.append(sa.or_(fk.parent.is_(None), fk.parent.in_(on)))
                    break
        _scrub_rows(s, table, person, where, counts)


# -- retention -----------------------------------------------------------------------------------

def _not_in_open_case() -> Any:
    open_posts = (select(CaseMention.mention_id).join(Case, Case.id == CaseMention.case_id)
                  .where(Case.status.in_(OPEN_STATUSES)))
    return Mention.id.not_in(open_posts)


def prune(cfg: Config, dry_run: bool = False, now: Optional[datetime] = None, batch: int = BATCH) -> Counts:
    """Delete mentions older than database.retention_days (with everything attached, and cases
    left empty), then clear `raw` of mentions older than database.retention_days_raw. 0 keeps.
    A dry run counts the mentions only; the rows attached to them are counted as they go."""
    now, db, counts = now or utcnow(), cfg.database, _counts()
    if db.retention_days:
        old = [Mention.created_at < now - timedelta(days=db.retention_days), _not_in_open_case()]
        if dry_run:
            counts["mention"]["deleted"] = _count(cfg, old)
        else:
            _prune_mentions(cfg, old, batch, counts)
    if db.retention_days_raw:
        stale = [Mention.created_at < now - timedelta(days=db.retention_days_raw), Mention.raw.is_not(None),
                 sa.cast(Mention.raw, sa.Text) != "null", _not_in_open_case()]  # JSON null is no payload
        if db.retention_days:  # what the first step deletes (or, in a dry run, would delete) is not counted twice
            stale.append(Mention.created_at >= now - timedelta(days=db.retention_days))
        if dry_run:
            counts["mention"]["raw cleared"] = _count(cfg, stale)
        else:
            last = 0
            while ids := _next_ids(cfg, stale, last, batch):
                with store.session(cfg.database.url) as s:
                    counts["mention"]["raw cleared"] += s.execute(
                        sa.update(Mention.__table__).where(*stale, Mention.id > last, Mention.id <= ids[-1])
                        .values(raw=sa.null())).rowcount
                last = ids[-1]
    log.info("prune%s: %s", " (dry run)" if dry_run else "",
             ", ".join(f"{t} {k}={n}" for t, c in _plain(counts).items() for k, n in c.items()) or "nothing to do")
    return _plain(counts)


def _count(cfg: Config, where: list) -> int:
    with store.session(cfg.database.url) as s:
        return int(s.exec(select(sa.func.count()).select_from(Mention).where(*where)).one())


def _next_ids(cfg: Config, where: list, after: int, batch: int) -> list[int]:
    # Walking the primary key skips what earlier batches kept (posts in open cases) without rescanning it.
    with store.session(cfg.database.url) as s:
        q = select(Mention.id).where(*where, Mention.id > after).order_by(Mention.id).limit(batch)
        return list(s.exec(q).all())


def _prune_mentions(cfg: Config, where: list, batch: int, counts: defaultdict) -> None:
    last = 0
    while ids := _next_ids(cfg, where, last, batch):
        with store.session(cfg.database.url) as s:
            tables = _tables(s)
            cases = _cases_of(s, ids)
            rollups.remove(s, ids)
            _delete(s, tables, tables["mention"], tables["mention"].c.id, ids, counts)
            kept = _still_linked(s, cases)
            # A closed case whose posts are all past retention goes too, with its alerts and history.
            _delete(s, tables, tables["case"], tables["case"].c.id, sorted(cases - kept), counts)
        last = ids[-1]
