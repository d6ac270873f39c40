"""Scoring quality: needs-response precision/recall/F1 and 3-class macro-F1 of the default
scorer (triage), the rules-only scorer and raw VADER, on labelled files, in one run.

    python benchmarks/score_quality.py [FILE.jsonl ...]

FILE lines hold {"id", "text", "label"} with label negative/neutral/positive (needs a
response = negative), as ../shared/eval/triage_eval.py expects. Without arguments it reads
the evaluation sets in ../shared/data/ when they exist (measuring only: they are never
copied into the project or trained on). It prints one table per file, then the gap
between English and the other languages' needs-response F1.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from scoring import get_scorer
from scoring.base import Post

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
DEFAULT_FILES = ["airline_dev.jsonl", "dev_de_sb10k.jsonl", "dev_fa_snappfood.jsonl"]
SCORERS = ["vader", "rules", "triage"]


def f1(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def measure(gold: list[dict], out) -> dict:
    tp = fp = fn = 0
    for g, a in zip(gold, out):
        y, yhat = g["label"] == "negative", a.needs_response
        tp += y and yhat
        fp += (not y) and yhat
        fn += y and not yhat
    p, r, f = f1(tp, fp, fn)
    res = {"precision": p, "recall": r, "f1": f}
    classes = ["negative", "neutral", "positive"]
    fs = []
    for c in classes:
        ctp = sum(g["label"] == c and a.label == c for g, a in zip(gold, out))
        cfp = sum(g["label"] != c and a.label == c for g, a in zip(gold, out))
        cfn = sum(g["label"] == c and a.label != c for g, a in zip(gold, out))
        fs.append(f1(ctp, cfp, cfn)[2])
    # as triage_eval.py: over the three classes whenever the labels are sentiment labels
    res["macro_f1"] = sum(fs) / 3 if all(g["label"] in classes for g in gold) else None
    return res


# Demo scenarios that need a public answer (repmon/demo.py labels every post it writes).
DEMO_NEEDS = frozenset({"abuse", "account", "billing", "defect", "delivery", "legal", "outage", "sarcasm",
                        "service", "threat", "question"})


def demo_scenarios() -> None:
    """Needs-response on the demo posts (project-written, a telecom brand, 8 languages): each
    post's scenario says whether it needs an answer (complaint, question, threat) or not
    (praise, neutral, competitor, spam, the brand's own replies). Not used in training."""
    from datetime import datetime, timezone

    from repmon import demo

    items = demo.generate(datetime(2026, 11, 23, tzinfo=timezone.utc))
    terms = (demo.BRAND["name"], *demo.BRAND.get("keywords", []), *demo.BRAND.get("handles", []))
    posts = [Post(id=str(i), text=m["text"], lang=m.get("lang"), rating=m.get("rating"), platform=m["platform"],
                  is_own=m.get("is_own", False), brand_terms=tuple(terms),
                  competitor_terms=tuple(demo.BRAND.get("competitors", [])))
             for i, m in enumerate(items)]
    gold = [m["raw"]["scenario"] in DEMO_NEEDS for m in items]
    print(f"demo scenarios: {len(posts):,} posts (needs a response: {sum(gold):,})")
    print(f"{'scorer':<8} {'precision':>9} {'recall':>7} {'F1':>6}")
    for name in SCORERS:
        out = get_scorer(name).score(posts)
        tp = sum(a.needs_response and g for a, g in zip(out, gold))
        fp = sum(a.needs_response and not g for a, g in zip(out, gold))
        fn = sum(g and not a.needs_response for a, g in zip(out, gold))
        p, r, f = f1(tp, fp, fn)
        print(f"{name:<8} {p:>9.3f} {r:>7.3f} {f:>6.3f}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="*")
    ap.add_argument("--no-demo", action="store_true", help="skip the demo scenarios")
    a = ap.parse_args(argv)
    if not a.no_demo:
        demo_scenarios()
    files = [Path(f) for f in a.files] or [SHARED / f for f in DEFAULT_FILES if (SHARED / f).is_file()]
    if not files:
        print(f"no labelled files given and none found in {SHARED}", file=sys.stderr)
        return 2
    scorers = {name: get_scorer(name) for name in SCORERS}
    f1_by_file: dict[str, float] = {}
    for path in files:
        gold = [json.loads(line) for line in open(path, encoding="utf-8") if line.strip()]
        posts = [Post(id=str(g["id"]), text=g["text"]) for g in gold]
        print(f"\n{path.name}: {len(gold):,} posts")
        print(f"{'scorer':<8} {'precision':>9} {'recall':>7} {'F1':>6} {'macro-F1':>9} {'posts/s':>9}")
        for name, scorer in scorers.items():
            t = time.perf_counter()
            out = scorer.score(posts)
            rate = len(posts) / (time.perf_counter() - t)
            m = measure(gold, out)
            macro = f"{m['macro_f1']:.3f}" if m["macro_f1"] is not None else "-"
            print(f"{name:<8} {m['precision']:>9.3f} {m['recall']:>7.3f} {m['f1']:>6.3f} {macro:>9} {rate:>9,.0f}")
            if name == "triage":
                f1_by_file[path.name] = m["f1"]
    english = [f for n, f in f1_by_file.items() if n.startswith("airline")]
    if english and len(f1_by_file) > 1:
        print("\ntriage needs-response F1, other languages against English:")
        for n, f in f1_by_file.items():
            if not n.startswith("airline"):
                print(f"  {n:<26} {f:.3f}  ({f - english[0]:+.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
