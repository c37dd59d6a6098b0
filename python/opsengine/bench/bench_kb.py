"""Knowledge-base search: index build and query latency on generated articles, tantivy
(BM25, English stemming, snippets; what ``engine.kb`` uses) beside the plain-SQL
alternative that needs no extension (DuckDB ``ILIKE`` on every word, no ranking).

DuckDB's own ``fts`` extension was the other candidate; it is fetched from DuckDB's
extension repository on first use, which an offline engine cannot do, so it is not
measured here.

    python -m opsengine.bench.bench_kb [--articles 3000] [--queries 200] [--runs 3]

Prints, per run and as medians: bulk index build (articles/s), one article added through
``engine.kb.create`` (store row + index commit, ms), and query latency (p50/p95 ms) for
tantivy with highlights and for the ILIKE scan.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from opsengine.engine import Engine
from opsengine.kb.index import ArticleIndex

WORDS = [
    "vpn",
    "password",
    "printer",
    "laptop",
    "outlook",
    "calendar",
    "disk",
    "quota",
    "mfa",
    "token",
    "expense",
    "report",
    "ssh",
    "key",
    "network",
    "wifi",
    "monitor",
    "badge",
    "backup",
    "restore",
    "share",
    "folder",
    "mailbox",
    "phone",
    "voicemail",
    "driver",
    "install",
    "update",
    "upgrade",
    "reboot",
    "crash",
    "slow",
    "freeze",
    "error",
    "login",
    "account",
    "access",
    "permission",
    "license",
    "software",
    "hardware",
    "keyboard",
    "mouse",
    "screen",
    "display",
    "meeting",
    "room",
    "camera",
    "microphone",
    "headset",
    "travel",
    "booking",
    "invoice",
    "payroll",
    "holiday",
    "leave",
    "training",
]
FILLER = [
    "the",
    "a",
    "to",
    "of",
    "and",
    "in",
    "for",
    "on",
    "with",
    "your",
    "from",
    "after",
    "before",
    "when",
    "if",
    "it",
    "is",
]


def article(rng: random.Random, i: int) -> dict:
    topic = rng.sample(WORDS, 3)
    body = " ".join(
        rng.choice(WORDS) if rng.random() < 0.4 else rng.choice(FILLER) for _ in range(120)
    )
    return {
        "id": i,
        "title": f"How to fix {topic[0]} {topic[1]} problems",
        "body": f"{topic[0]} {topic[2]}. {body}",
        "tags": [topic[0]],
        "state": "published",
    }


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(p * len(values)))]


def one_run(n: int, queries: int, seed: int) -> dict[str, float]:
    rng = random.Random(seed)
    docs = [article(rng, i + 1) for i in range(n)]
    qs = [" ".join(rng.sample(WORDS, rng.choice((1, 2, 3)))) for _ in range(queries)]
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        index = ArticleIndex(Path(tmp) / "idx")
        started = time.perf_counter()
        index.replace(docs, 1, all_=True)
        out["index_articles_per_s"] = n / (time.perf_counter() - started)
        lat = []
        for q in qs:
            t0 = time.perf_counter()
            index.search(q, limit=10)
            lat.append((time.perf_counter() - t0) * 1000)
        out["tantivy_p50_ms"], out["tantivy_p95_ms"] = percentile(lat, 0.5), percentile(lat, 0.95)

        with Engine(Path(tmp) / "ops.duckdb", admin_channel=False) as engine:
            cur = engine.store.cursor()
            cur.execute("CREATE TABLE bench_articles (id BIGINT, title VARCHAR, body VARCHAR)")
            cur.executemany(
                "INSERT INTO bench_articles VALUES (?, ?, ?)",
                [[d["id"], d["title"], d["body"]] for d in docs],
            )
            lat = []
            for q in qs:
                words = q.split()
                where = " AND ".join("(title ILIKE ? OR body ILIKE ?)" for _ in words)
                params = [p for w in words for p in (f"%{w}%", f"%{w}%")]
                t0 = time.perf_counter()
                cur.execute(f"SELECT id FROM bench_articles WHERE {where} LIMIT 10", params)
                cur.fetchall()
                lat.append((time.perf_counter() - t0) * 1000)
            out["ilike_p50_ms"], out["ilike_p95_ms"] = percentile(lat, 0.5), percentile(lat, 0.95)
            lat = []
            for d in docs[:50]:
                t0 = time.perf_counter()
                engine.kb.create(title=d["title"], body=d["body"], tags=d["tags"],
                                 state="published", actor="bench")  # fmt: skip
                lat.append((time.perf_counter() - t0) * 1000)
            out["create_p50_ms"] = statistics.median(lat)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--articles", type=int, default=3000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args(argv)
    runs = []
    for i in range(args.runs):
        r = one_run(args.articles, args.queries, seed=i)
        runs.append(r)
        print(f"run {i + 1}: " + ", ".join(f"{k}={v:.2f}" for k, v in r.items()), flush=True)
    print(f"median of {args.runs} runs, {args.articles} articles, {args.queries} queries:")
    for key in runs[0]:
        print(f"  {key}: {statistics.median(r[key] for r in runs):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
