"""A small linear model over words and lexicon cues: sentiment (3 classes) and category.

The features of a post are strings (see `features`): its words and word pairs, word
stems, words in the scope of a negator, and what the cue lexicons and VADER found
(cue kinds, binned valence). A model is a vocabulary of those strings and one weight
row per string, one column per class; each head (`label`, `category`) is a softmax
over its own columns. Prediction is a sparse sum per post done for the whole batch
with numpy, so it costs about as much as building the feature strings.

Training (`fit`) is full-batch softmax regression with L2 and Adam, numpy only, a few
seconds for ten thousand posts. The shipped model (scoring/models/base.npz) is fitted
by `python -m scoring.train_base` on scoring/training/*.jsonl, which the project wrote;
`repmon train` fits a per-deployment model on that data plus the team's feedback.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from itertools import chain, repeat
from typing import Iterable, Optional, Sequence

import numpy as np

HEADS: dict[str, tuple[str, ...]] = {
    "label": ("negative", "neutral", "positive"),
    "category": ("delivery", "billing", "defect", "service", "account", "outage", "abuse", "question",
                 "praise", "other"),
}

# Words first: the engine tries the alternatives in order at every position (a third faster).
_TOKEN = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?|[@!?¿؟\U0001F300-\U0001FAFF\u2600-\u27BF]|\d+")
# Marks repeated for emphasis ("!!!!" counted per mark outvoted the words), numbers, and any
# character three times or more (letters are cut to two in _denoise). `(.)` is much cheaper
# to try at every position than a letter class.
_NOISE = re.compile(r"([!?¿؟])[!?¿؟\s]*[!?¿؟]|\d+|(.)\2\2+", re.S)
_HANDLE = re.compile(r"@\w+")
# ASCII emoticons, in lower-cased text: a strong cue in every language, which the word
# pattern would cut into letters and punctuation. Each becomes one kind, with VADER's
# typical valence for it.
# (The look-behinds come after the first character so that the engine can skip ahead to one.)
_EMOTICON = re.compile(r"(?:[:;=](?<![\w:/].)[-o'^]?[)(\]\[dp/*3|]+|x(?<![\w:/]x)-?d+|<(?<![\w:/]<)3+"
                       r"|\^(?<![\w:/]\^)[_.-]?\^)(?!\w)")
_EMOTICON_HINT = frozenset(":;=<^")
EMOTICON_VALENCE = {"emo:sad": -1.8, "emo:wink": 1.5, "emo:tongue": 1.3, "emo:heart": 1.9, "emo:smile": 2.0}
_CLAUSE_END = frozenset("!?¿؟")
NEGATION_SCOPE = 3  # words after a negator that are read as negated


def _denoise(m: re.Match) -> str:
    """Any number is "0"; "sooooo" is "soo"; "?!?!" is "?" (one pass: this runs on every post)."""
    c = m.group(2)
    if c is not None:
        return c + c if c.isalpha() else m.group(0)
    return m.group(1) or "0"


def _emoticon(e: str) -> str:
    if "<" in e:
        return "emo:heart"
    if any(c in e for c in "([/|"):
        return "emo:sad"
    if e[0] == ";":
        return "emo:wink"
    return "emo:tongue" if "p" in e else "emo:smile"


def _bin(x: float, step: float, lo: int, hi: int) -> int:
    return max(lo, min(hi, int(round(x / step))))


def features(low: str, negators: frozenset[str], kinds: dict[str, int], vader: float, valence: float,
             sarcasm: bool, qmark: bool, rating: Optional[int] = None,
             word_valence: Optional[dict[str, float]] = None, extras: Sequence[str] = ()) -> list[str]:
    """The feature strings of one post; `low` is its normalised lower-case text.

    With `word_valence` (VADER's word list) the words' valences are summed here, flipped
    in a negator's scope as VADER does (x -0.74), instead of running VADER's full
    algorithm: the model sees the words themselves, so most of VADER's rules are redundant.
    ASCII emoticons become one feature each and add their valence. `extras` are features
    the caller knows from outside the text (e.g. that it carried a link)."""
    if "@" in low:
        low = _HANDLE.sub("@", low)
    emoticons = []
    if not _EMOTICON_HINT.isdisjoint(low) or "xd" in low:
        emoticons = [_emoticon(e) for e in _EMOTICON.findall(low)]
        if emoticons:
            low = _EMOTICON.sub(" ", low)
            valence += sum(EMOTICON_VALENCE[e] for e in emoticons)
    toks = _TOKEN.findall(_NOISE.sub(_denoise, low))
    out = ["*"]
    out += emoticons
    out += ["w:" + t for t in toks]
    out += [f"b:{a} {b}" for a, b in zip(["^"] + toks, toks + ["$"])]
    out += ["p:" + t[:5] for t in toks if len(t) > 6]
    negated = [False] * len(toks)
    if not negators.isdisjoint(toks):  # words in a negator's scope, until ! or ?
        scope = 0
        for i, t in enumerate(toks):
            if scope:
                negated[i] = True
                out.append("n:" + t)
                scope -= 1
            if t in negators:
                scope = NEGATION_SCOPE
            elif t in _CLAUSE_END:
                scope = 0
    if word_valence is not None:
        vsum = 0.0
        for t, neg in zip(toks, negated):
            v = word_valence.get(t)
            if v is not None:
                vsum += v * -0.74 if neg else v
        if vsum:
            vader = vsum / (vsum * vsum + 15.0) ** 0.5  # VADER's normalisation
            valence += vsum
    append = out.append
    n = len(toks)
    append("len:" + ("1" if n <= 3 else "2"))
    for k, c in sorted(kinds.items()):  # a fixed order: the sums then match across processes
        append("k:" + k)
        if c > 1 and (k == "negative" or k == "positive"):
            append("k:" + k + (":2" if c == 2 else ":3"))
    if vader:
        append("v:%d" % _bin(vader, 0.25, -4, 4))
    append("t:%d" % _bin(valence, 1.0, -6, 6))
    if "!" in toks and valence:
        # "!" intensifies whatever the words say: alone it is neither praise nor anger.
        append("!-" if valence < 0 else "!+")
    if sarcasm:
        append("sarcasm")
    if qmark:
        append("qmark")
    if rating is not None:
        append("rating:%d" % rating)
    out += extras
    return out


@dataclass
class Model:
    """Weights for the feature strings: `predict` gives class probabilities per head."""

    vocab: list[str]
    weights: np.ndarray  # len(vocab) x sum(len(classes) for each head), float32
    heads: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(HEADS))
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        self.index = {f: i for i, f in enumerate(self.vocab)}
        self.slices: dict[str, slice] = {}
        at = 0
        for name, classes in self.heads.items():
            self.slices[name] = slice(at, at + len(classes))
            at += len(classes)
        if self.weights.shape != (len(self.vocab), at):
            raise ValueError(f"model weights are {self.weights.shape}, expected {(len(self.vocab), at)}")

    def logits(self, rows: Sequence[Sequence[str]]) -> np.ndarray:
        cols, starts, vals = _encode(rows, self.index)
        return _forward(self.weights, cols, starts, vals)

    def predict(self, rows: Sequence[Sequence[str]]) -> dict[str, np.ndarray]:
        """{head: array (len(rows) x classes) of probabilities}."""
        z = self.logits(rows)
        return {name: _softmax(z[:, sl]) for name, sl in self.slices.items()}

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        np.savez_compressed(buf, vocab=np.array(self.vocab, dtype=str), weights=self.weights,
                            heads=np.array(json.dumps(self.heads)), meta=np.array(json.dumps(self.meta)))
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> "Model":
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            heads = {k: tuple(v) for k, v in json.loads(str(z["heads"])).items()}
            return cls(vocab=z["vocab"].tolist(), weights=z["weights"].astype(np.float32), heads=heads,
                       meta=json.loads(str(z["meta"])))


def _encode(rows: Sequence[Sequence[str]], index: dict[str, int]):
    """Flat column indices, row start offsets and values (1/sqrt(n) per row, so long posts
    don't outvote short ones). A feature repeated in a post counts once per occurrence;
    unknown features are dropped, and every row has the always-on "*" feature."""
    get = index.get
    lengths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
    flat = np.fromiter(map(get, chain.from_iterable(rows), repeat(-1)), dtype=np.int64, count=int(lengths.sum()))
    keep = flat >= 0
    cols = flat[keep]
    row_of = np.repeat(np.arange(len(rows)), lengths)[keep]
    counts = np.bincount(row_of, minlength=len(rows))
    if len(rows) and counts.min() == 0:  # a row of unknown features only: give it "*"
        missing = np.flatnonzero(counts == 0)
        cols = np.concatenate([cols, np.full(len(missing), get("*", 0))])
        row_of = np.concatenate([row_of, missing])
        order = np.argsort(row_of, kind="stable")
        cols, row_of = cols[order], row_of[order]
        counts = np.bincount(row_of, minlength=len(rows))
    starts = np.zeros(len(rows), dtype=np.int64)
    if len(rows):
        starts[1:] = np.cumsum(counts)[:-1]
    vals = (counts.astype(np.float32) ** -0.5)[row_of]
    return cols, starts, vals


def _forward(weights: np.ndarray, cols: np.ndarray, starts: np.ndarray, vals: np.ndarray) -> np.ndarray:
    if not len(starts):
        return np.zeros((0, weights.shape[1]), dtype=np.float32)
    return np.add.reduceat(weights[cols] * vals[:, None], starts, axis=0)


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


@dataclass
class Example:
    feats: list[str]
    targets: dict[str, str]  # head -> class; a head may be missing (no target for it)
    weight: float = 1.0


def fit(examples: Sequence[Example], heads: Optional[dict[str, tuple[str, ...]]] = None, *,
        min_count: int = 2, l2: float = 5e-6, epochs: int = 60, lr: float = 0.05,
        meta: Optional[dict] = None, progress=None) -> Model:
    """Softmax regression per head, full batch, Adam. Features seen in fewer than
    `min_count` examples are dropped. Deterministic for the same examples."""
    heads = dict(heads or HEADS)
    if not examples:
        raise ValueError("no training examples")
    counts = Counter(f for ex in examples for f in set(ex.feats))
    vocab = sorted(f for f, c in counts.items() if c >= min_count or f == "*")
    if "*" not in vocab:
        vocab.insert(0, "*")
    model = Model(vocab, np.zeros((len(vocab), sum(map(len, heads.values()))), dtype=np.float32), heads,
                  dict(meta or {}))
    cols, starts, vals = _encode([ex.feats for ex in examples], model.index)
    n = len(examples)
    row_of = np.repeat(np.arange(n), np.diff(np.append(starts, len(cols))))
    weight = np.array([ex.weight for ex in examples], dtype=np.float32)
    targets, masks = {}, {}
    for name, classes in heads.items():
        pos = {c: i for i, c in enumerate(classes)}
        y = np.zeros((n, len(classes)), dtype=np.float32)
        m = np.zeros(n, dtype=np.float32)
        for r, ex in enumerate(examples):
            c = ex.targets.get(name)
            if c in pos:
                y[r, pos[c]] = 1.0
                m[r] = weight[r]
        targets[name], masks[name] = y, m
    W = model.weights.astype(np.float64)
    m1, m2 = np.zeros_like(W), np.zeros_like(W)
    b1, b2, eps = 0.9, 0.999, 1e-8
    for step in range(1, epochs + 1):
        z = _forward(W, cols, starts, vals)
        g = np.zeros_like(z)
        for name, sl in model.slices.items():
            total = masks[name].sum()
            if total:
                g[:, sl] = (_softmax(z[:, sl]) - targets[name]) * (masks[name] / total)[:, None]
        grad = np.empty_like(W)
        gv = g[row_of] * vals[:, None]
        for k in range(W.shape[1]):
            grad[:, k] = np.bincount(cols, weights=gv[:, k], minlength=len(vocab))
        grad += l2 * W
        m1 = b1 * m1 + (1 - b1) * grad
        m2 = b2 * m2 + (1 - b2) * grad * grad
        W -= lr * (m1 / (1 - b1 ** step)) / (np.sqrt(m2 / (1 - b2 ** step)) + eps)
        if progress is not None and step % 20 == 0:
            progress(step, epochs)
    model.weights = W.astype(np.float32)
    model.meta.update({"n_examples": n, "n_features": len(vocab), "epochs": epochs, "l2": l2})
    return model


def fingerprint(texts: Iterable[str]) -> str:
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()[:16]
