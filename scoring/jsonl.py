"""The scoring contract on files: JSON lines in, one assessment per line out.

Input lines:  {"id", "text", optionally "lang", "author", "author_reach", "rating", "platform",
               "is_own", "brand_terms", "competitor_terms"}
Output lines: {"id", "lang", "sentiment", "label", "needs_response", "priority", "category", "reasons"}
in input order; `id` is echoed back exactly as given (int or str). Empty lines are skipped.

    python -m scoring.jsonl --input IN.jsonl --output OUT.jsonl [--scorer triage|rules|vader]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Callable, Iterator, Optional

from scoring.base import Post, Scorer

# Characters JSON leaves raw that str.splitlines() and JavaScript treat as line breaks.
_LINE_BREAKS = str.maketrans({"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def _bad(path: str, lineno: int, what: str) -> ValueError:
    return ValueError(f"{path} line {lineno}: {what}")


def _unicode(value: str) -> bool:
    """False for a string with a lone surrogate ("\\ud83d" from an emoji cut in half): it cannot be written out."""
    try:
        value.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def _number(value, path: str, lineno: int, key: str) -> float:
    # JSON numbers only; json.loads also reads NaN and Infinity, which no count or rating is.
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _bad(path, lineno, f"'{key}' must be a number")
    return value


def _terms(value, path: str, lineno: int, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise _bad(path, lineno, f"'{key}' must be a list of strings")


def parse_line(line: str, path: str, lineno: int) -> tuple[object, Post]:
    """(the id as given, the Post) for one input line; ValueError naming the line when it is bad."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError:
        raise _bad(path, lineno, "not valid JSON") from None
    if not isinstance(obj, dict):
        raise _bad(path, lineno, "not a JSON object")
    if "id" not in obj or obj["id"] is None:
        raise _bad(path, lineno, "missing 'id'")
    raw_id = obj["id"]
    if not isinstance(raw_id, (str, int)) or isinstance(raw_id, bool):
        raise _bad(path, lineno, "'id' must be a string or an integer")
    if isinstance(raw_id, str) and not _unicode(raw_id):
        raise _bad(path, lineno, "'id' is not valid Unicode (a lone surrogate)")
    if "text" not in obj or obj["text"] is None:
        raise _bad(path, lineno, "missing 'text'")
    if not isinstance(obj["text"], str):
        raise _bad(path, lineno, "'text' must be a string")
    lang = obj.get("lang")
    if lang is not None and not (isinstance(lang, str) and len(lang) <= 16 and _unicode(lang)):
        raise _bad(path, lineno, "'lang' must be a language code such as \"en\" or \"pt-BR\"")
    rating = obj.get("rating")
    if rating is not None:
        rating = int(round(_number(rating, path, lineno, "rating")))
        if not 1 <= rating <= 5:
            raise _bad(path, lineno, "'rating' must be 1-5 (stars)")
    reach = _number(obj.get("author_reach") or 0, path, lineno, "author_reach")
    for key in ("author", "platform"):
        if obj.get(key) is not None and not isinstance(obj[key], str):
            raise _bad(path, lineno, f"'{key}' must be a string")
    if obj.get("is_own") is not None and not isinstance(obj["is_own"], bool):
        raise _bad(path, lineno, "'is_own' must be true or false")
    post = Post(
        id=str(raw_id), text=obj["text"], lang=(lang or None), author=obj.get("author"),
        author_reach=int(reach), rating=rating, platform=obj.get("platform"),
        is_own=bool(obj.get("is_own")),
        brand_terms=_terms(obj.get("brand_terms"), path, lineno, "brand_terms"),
        competitor_terms=_terms(obj.get("competitor_terms"), path, lineno, "competitor_terms"),
    )
    return raw_id, post


def _batches(path: str, batch_size: int) -> Iterator[list[tuple[object, Post]]]:
    batch: list[tuple[object, Post]] = []
    with open(path, "rb") as f:  # decoded line by line, so that a line that is not UTF-8 is named as such
        for lineno, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")  # -sig: a byte order mark is no text
            except UnicodeDecodeError:
                raise _bad(path, lineno, "not valid UTF-8") from None
            if not line.strip():
                continue
            batch.append(parse_line(line, path, lineno))
            if len(batch) >= batch_size:
                yield batch
                batch = []
    if batch:
        yield batch


def score_jsonl(in_path: str, out_path: str, scorer: Scorer, batch_size: int = 2000,
                progress: Optional[Callable[[int], None]] = None) -> int:
    """Score every line of `in_path` into `out_path`; returns the number of posts written.

    `progress(n_done)` is called after each batch. Bad input raises ValueError
    ("IN.jsonl line 12: missing 'text'"); nothing is half-written to `out_path`
    past the last complete batch before the bad line.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    done = 0
    with open(out_path, "w", encoding="utf-8") as out:
        for batch in _batches(in_path, batch_size):
            results = scorer.score([post for _id, post in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"scorer {scorer.name!r} returned {len(results)} results for {len(batch)} posts")
            lines = []
            for (raw_id, _post), assessment in zip(batch, results):
                row = assessment.as_dict()
                row["id"] = raw_id
                lines.append(json.dumps(row, ensure_ascii=False).translate(_LINE_BREAKS))
            out.write("\n".join(lines) + "\n")
            done += len(batch)
            if progress is not None:
                progress(done)
    return done


def main(argv: Optional[list[str]] = None) -> int:
    from scoring import get_scorer, scorer_names

    ap = argparse.ArgumentParser(prog="python -m scoring.jsonl", description="Score a JSONL file of posts.")
    ap.add_argument("--input", required=True, help="JSON lines with at least id and text")
    ap.add_argument("--output", required=True, help="where to write one assessment per line")
    ap.add_argument("--scorer", default="triage", choices=scorer_names())
    ap.add_argument("--batch-size", type=int, default=2000)
    a = ap.parse_args(argv)
    try:
        n = score_jsonl(a.input, a.output, get_scorer(a.scorer), batch_size=a.batch_size)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"scored {n} posts with {a.scorer}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
