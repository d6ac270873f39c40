"""The case queue reads one index range per status and priority; whatever the filters, it must give
the same page as sorting every case by priority, then deadline, then id."""

import random
from datetime import timedelta

import pytest
import sqlalchemy as sa

from dashboard import queries
from repmon import store
from repmon.models import CASE_STATUSES, OPEN_STATUSES, PRIORITIES, Brand, Case, CaseMention, Mention, utcnow

NOW = utcnow()


def _seed(url: str, n: int = 400) -> list[dict]:
    rng = random.Random(3)
    store.migrate(url)
    with store.session(url) as s:
        s.add_all([Brand(name="Acme"), Brand(name="Other")])
    mentions, cases, links = [], [], []
    for i in range(1, n + 1):
        created = NOW - timedelta(hours=rng.uniform(0, 300))
        status = rng.choice(CASE_STATUSES)
        answered = status not in OPEN_STATUSES and rng.random() < 0.8
        mentions.append(dict(id=i, source="t", platform=rng.choice(["x", "reddit"]), native_id=str(i),
                             author=f"u{i}", text=f"post {i}", created_at=created, lang="en"))
        cases.append(dict(id=i, brand_id=1 if i % 5 else 2, platform=mentions[-1]["platform"], author=f"u{i}",
                          thread_key=f"t{i}", status=status, priority=rng.choice(PRIORITIES),
                          category=rng.choice(["billing", "outage"]), lang=rng.choice(["en", "fa"]),
                          owner=rng.choice([None, "ana", "dev"]), opened_at=created, last_post_at=created,
                          first_post_at=created,
                          # some deadlines tie, so the id decides
                          first_response_due=created.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1),
                          first_response_at=created + timedelta(minutes=30) if answered else None))
        links.append(dict(case_id=i, mention_id=i))
    with store.get_engine(url).begin() as conn:
        for table, rows in ((Mention, mentions), (Case, cases), (CaseMention, links)):
            conn.execute(sa.insert(table.__table__), rows)
    return cases


def _expected(cases, limit, status="open", brand_id=1, priority=None, lang=None, owner=None, sla="any"):
    statuses = OPEN_STATUSES if status == "open" else CASE_STATUSES if status == "all" else (status,)
    picked = [c for c in cases if c["status"] in statuses and c["brand_id"] == brand_id
              and (not priority or c["priority"] in priority) and (not lang or c["lang"] in lang)
              and (owner is None or c["owner"] == (None if owner == "nobody" else owner))]
    if sla == "breached":
        picked = [c for c in picked if c["status"] in OPEN_STATUSES and c["first_response_at"] is None
                  and c["first_response_due"] < NOW]
    picked.sort(key=lambda c: (PRIORITIES.index(c["priority"]), c["first_response_due"], c["id"]))
    return [c["id"] for c in picked[:limit]]


@pytest.mark.parametrize("filters", [
    {}, {"status": "all"}, {"status": "resolved"}, {"status": "all", "priority": ["high", "low"]},
    {"status": "all", "lang": ["fa"], "owner": "ana"}, {"owner": "nobody"}, {"status": "all", "sla": "breached"},
])
def test_queue_page_is_the_most_urgent_cases_in_order(db_url, filters):
    cases = _seed(db_url)
    got = queries.case_queue(db_url, limit=25, brand_id=1, now=NOW, **filters)
    assert list(got["id"]) == _expected(cases, 25, **filters)
    assert len(got) > 0 and (got["text"] == [f"post {i}" for i in got["id"]]).all()
