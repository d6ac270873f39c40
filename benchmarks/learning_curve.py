"""The learning curve of `repmon train`: needs-response F1 and macro-F1 on held-out posts
after 0, 50, 200 and 1,000 simulated feedback labels, with raw VADER beside them.

    python benchmarks/learning_curve.py [--data FILE.jsonl] [--steps 0,50,200,1000]

The feedback is simulated from a labelled file (default ../shared/data/airline_dev.jsonl,
measuring only): for a sampled post, an agent says "needed a response" when its gold label
is negative and "didn't need one" otherwise, exactly the verdicts the dashboard stores.
The verdicts go through the same mapping and fitting as `repmon train`
(repmon.learning.targets and fit_with_feedback). A third of the file, chosen by id, is
held out for measuring and never used as feedback. The models made here are thrown away.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
import zlib
from pathlib import Path

from score_quality import measure  # the sibling script; benchmarks/ is on sys.path when run as a file
from repmon import learning
from scoring import get_scorer
from scoring.base import Post
from scoring.train_base import training_rows
from scoring.triage import TriageScorer

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "airline_dev.jsonl"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(DEFAULT))
    ap.add_argument("--steps", default="0,50,200,1000")
    a = ap.parse_args(argv)
    if not Path(a.data).is_file():
        print(f"no labelled file at {a.data}; pass --data", file=sys.stderr)
        return 2
    rows = [json.loads(line) for line in open(a.data, encoding="utf-8") if line.strip()]
    held = [r for r in rows if zlib.crc32(str(r["id"]).encode()) % 3 == 0]
    pool = [r for r in rows if zlib.crc32(str(r["id"]).encode()) % 3 != 0]
    steps = [int(s) for s in a.steps.split(",")]
    if max(steps) > len(pool):
        print(f"only {len(pool)} posts are available as feedback", file=sys.stderr)
        return 2
    held_posts = [Post(id=str(r["id"]), text=r["text"]) for r in held]
    base_scorer = get_scorer("triage")
    print(f"{Path(a.data).name}: {len(pool):,} posts to draw feedback from, {len(held):,} held out")
    print(f"{'labels':>7} {'F1':>6} {'macro-F1':>9} {'fit s':>6}")
    vader = measure(held, get_scorer("vader").score(held_posts))
    base = training_rows()
    order = random.Random(0).sample(pool, max(steps))
    for n in steps:
        t = time.perf_counter()
        if n == 0:
            scorer = base_scorer
        else:
            sample = order[:n]  # each step adds labels to the previous ones, as a team would
            scored = base_scorer.score([Post(id=str(r["id"]), text=r["text"]) for r in sample])
            feedback = []
            for r, s in zip(sample, scored):
                verdict = "needs_response" if r["label"] == "negative" else "no_response"
                feedback.append({"text": r["text"], **learning.targets(verdict, None, s.label, s.category)})
            scorer = TriageScorer(model=learning.fit_with_feedback(feedback, base))
        m = measure(held, scorer.score(held_posts))
        print(f"{n:>7,} {m['f1']:>6.3f} {m['macro_f1']:>9.3f} {time.perf_counter() - t:>6.1f}", flush=True)
    print(f"{'vader':>7} {vader['f1']:>6.3f} {vader['macro_f1']:>9.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
