"""Fit the shipped model on the project's own labelled posts.

    python -m scoring.train_base [--check]

Reads scoring/training/*.jsonl (written for repmon, Apache-2.0; see the README) and
writes scoring/models/base.npz. The file records a fingerprint of the training data,
and tests check that the shipped model matches the data in the repository. --check
prints a 5-fold cross-validation on the training data before fitting the final model.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from scoring.base import Post
from scoring.model import Example, Model, fingerprint, fit
from scoring.triage import BASE_MODEL, TriageScorer

TRAINING_DIR = Path(__file__).with_name("training")
# Stopping early generalises better: fitting our own posts longer keeps improving the
# cross-validation on them and makes posts from other domains and people worse.
EPOCHS = 60


def training_rows() -> list[dict]:
    """Every line of scoring/training/*.jsonl, with `lang` taken from the file name (en_a -> en)."""
    rows = []
    for path in sorted(TRAINING_DIR.glob("*.jsonl")):
        lang = path.stem.split("_")[0]
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if line.strip():
                    row = json.loads(line)
                    row["lang"] = lang
                    row["where"] = f"{path.name}:{n}"
                    rows.append(row)
    return rows


def examples(rows: list[dict], weight: float = 1.0) -> list[Example]:
    """Feature rows for labelled posts ({"text", "lang"?, "label"?, "category"?, "rating"?})."""
    scorer = TriageScorer(model=Model(["*"], _zeros()))
    posts = [Post(id=str(i), text=r["text"], lang=r.get("lang"), rating=r.get("rating")) for i, r in enumerate(rows)]
    _facts, feats = scorer.analyse(posts)
    out = []
    for r, fs in zip(rows, feats):
        targets = {k: r[k] for k in ("label", "category") if r.get(k)}
        out.append(Example(fs, targets, r.get("weight", weight)))
    return out


def _zeros():
    import numpy as np

    from scoring.model import HEADS

    return np.zeros((1, sum(map(len, HEADS.values()))), dtype=np.float32)


def cross_validate(rows: list[dict], folds: int = 5) -> dict:
    """Macro-F1 of the label head and F1 of "negative" over k folds of `rows`."""
    exs = examples(rows)
    gold, pred = [], []
    for k in range(folds):
        train = [e for i, e in enumerate(exs) if i % folds != k]
        test = [e for i, e in enumerate(exs) if i % folds == k]
        model = fit(train, epochs=EPOCHS)
        p = model.predict([e.feats for e in test])["label"].argmax(axis=1)
        gold += [e.targets["label"] for e in test]
        pred += [model.heads["label"][i] for i in p]
    return label_scores(gold, pred)


def label_scores(gold: list[str], pred: list[str]) -> dict:
    f1s = {}
    for c in ("negative", "neutral", "positive"):
        tp = sum(g == c and p == c for g, p in zip(gold, pred))
        fp = sum(g != c and p == c for g, p in zip(gold, pred))
        fn = sum(g == c and p != c for g, p in zip(gold, pred))
        f1s[c] = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    return {"negative_f1": round(f1s["negative"], 3), "macro_f1": round(sum(f1s.values()) / 3, 3), "n": len(gold)}


def build(path: Path = BASE_MODEL) -> Model:
    rows = training_rows()
    if not rows:
        raise SystemExit(f"no training data in {TRAINING_DIR}")
    model = fit(examples(rows), epochs=EPOCHS,
                meta={"name": "base", "data": fingerprint(r["text"] for r in rows)})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(model.to_bytes())
    return model


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m scoring.train_base", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="print a 5-fold cross-validation first")
    a = ap.parse_args(argv)
    if a.check:
        print("cross-validation:", cross_validate(training_rows()), file=sys.stderr)
    model = build()
    print(f"wrote {BASE_MODEL} ({model.meta['n_examples']} posts, {model.meta['n_features']} features)",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
