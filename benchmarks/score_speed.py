"""Scoring speed: posts/s of the default scorer against raw VADER on the same posts, in the
same run, on one core, plus peak memory.

    python benchmarks/score_speed.py [--data FILE.jsonl] [--repeat 5]

Without --data it scores the built-in demo posts (project-written, eight languages). With
--data it reads {"text"} lines, e.g. ../shared/data/airline_dev.jsonl (measuring only).
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from datetime import datetime, timezone

from scoring import get_scorer
from scoring.base import Post


def load(path: str | None) -> list[Post]:
    if path:
        with open(path, encoding="utf-8") as f:
            return [Post(id=str(i), text=json.loads(line)["text"]) for i, line in enumerate(f) if line.strip()]
    from repmon import demo

    items = demo.generate(datetime(2026, 11, 23, tzinfo=timezone.utc))
    return [Post(id=str(i), text=m["text"]) for i, m in enumerate(items)]


def rates(names: list[str], posts: list[Post], repeat: int) -> dict[str, float]:
    """Best posts/s of each scorer. The runs are interleaved (vader, rules, triage, vader, ...)
    so a change of CPU speed during the run (turbo, a noisy neighbour) hits all alike."""
    scorers = {name: get_scorer(name) for name in names}
    for scorer in scorers.values():
        scorer.score(posts[:200])  # warm-up: lexicons, regexes, models loaded outside the timing
    best = {name: float("inf") for name in names}
    for _ in range(repeat):
        for name, scorer in scorers.items():
            t = time.perf_counter()
            scorer.score(posts)
            best[name] = min(best[name], time.perf_counter() - t)
    return {name: len(posts) / secs for name, secs in best.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data")
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    posts = load(a.data)
    r = rates(["vader", "rules", "triage"], posts, a.repeat)
    vader, rules, triage = r["vader"], r["rules"], r["triage"]
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{len(posts):,} posts from {a.data or 'the demo data'}, best of {a.repeat}")
    print(f"{'scorer':<8} {'posts/s':>10} {'vs vader':>9}")
    print(f"{'vader':<8} {vader:>10,.0f} {1.0:>8.2f}x")
    print(f"{'rules':<8} {rules:>10,.0f} {rules / vader:>8.2f}x")
    print(f"{'triage':<8} {triage:>10,.0f} {triage / vader:>8.2f}x")
    print(f"peak memory {peak_mb:,.0f} MB")


if __name__ == "__main__":
    main()
