"""``engine.kb``: knowledge-base articles, ranked search, suggestions, feedback, statistics.

Articles live in ``kb_articles`` (title, Markdown body, tags, draft | published, links to
known errors and problems); the search index (:mod:`.index`) follows every write. A
reader's feedback is helpful or not, optionally for the ticket the article was suggested
for: a helpful answer on a ticket counts as a deflected ticket in ``kb_article_stats``.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import datetime
from pathlib import Path
from typing import Any

from opsengine.kb.index import ArticleIndex
from opsengine.store import Store
from opsengine.store.rows import bounded_text, fetch_dicts, query_dicts, utc

log = logging.getLogger(__name__)

STATES = ("draft", "published")
LINK_KINDS = ("known_errors", "problems")
MAX_TITLE = 300
MAX_BODY = 200_000
MAX_TAGS = 30
MAX_QUERY = 500
GENERATION_KEY = "kb:generation"
_TAG = re.compile(r"^[a-z0-9][a-z0-9_.:-]{0,63}$")


class ArticleError(ValueError):
    """Bad input for an article; the message starts with the field; nothing changed."""


class ArticleNotFound(ArticleError, LookupError):
    """No article with that id."""


def _tags(values: Any) -> list[str]:
    if values is None:
        return []
    if not isinstance(values, list) or len(values) > MAX_TAGS:
        raise ArticleError(f"tags: a list of at most {MAX_TAGS} tags")
    out = set()
    for i, v in enumerate(values):
        tag = v.strip().lower() if isinstance(v, str) else None
        if not tag or not _TAG.match(tag):
            raise ArticleError(f"tags[{i}]: lower-case letters, digits, '_', '.', ':', '-'")
        out.add(tag)
    return sorted(out)


def _ids(values: Any, field: str) -> list[int]:
    if values is None:
        return []
    if not isinstance(values, list) or len(values) > 100:
        raise ArticleError(f"{field}: a list of at most 100 ids")
    for i, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ArticleError(f"{field}[{i}]: an id (a positive whole number)")
    return sorted(set(values))


class KnowledgeBase:
    def __init__(self, store: Store, index_path: Path | None, *, problems: Any = None) -> None:
        self.store = store
        self.problems = problems
        self.index = ArticleIndex(index_path)
        self._catch_up()

    def _catch_up(self) -> None:
        """Rebuild the index when it is not at the store's generation (first start, a crash
        between the two commits, a copied database file)."""
        generation = int(self.store.get_state(GENERATION_KEY, "0") or 0)
        if self.index.path is not None and self.index.generation() == generation:
            return
        rows = self._articles("", [])
        self.index.replace(rows, generation, all_=True)
        if rows:
            log.info("knowledge base: indexed %d articles", len(rows))

    # -- writes -------------------------------------------------------------
    def create(
        self,
        *,
        title: str,
        body: str,
        actor: str,
        tags: list[str] | None = None,
        state: str = "draft",
        known_errors: list[int] | None = None,
        problems: list[int] | None = None,
        at: datetime | None = None,
    ) -> dict[str, Any]:
        fields = self._check(
            {"title": title, "body": body, "tags": tags, "state": state,
             "known_errors": known_errors, "problems": problems}
        )  # fmt: skip
        actor = bounded_text(actor, "actor", 200, error=ArticleError)
        now = utc(at, "at")
        with self.store.transaction() as cur:
            article_id = self.store.next_id(cur, "kb_articles", 1)
            cur.execute(
                "INSERT INTO kb_articles VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0)",
                [article_id, fields["title"], fields["body"], json.dumps(fields["tags"]),
                 fields["state"], actor, now, now],
            )  # fmt: skip
            self._links(cur, article_id, fields)
            generation = self._bump(cur)
        self._reindex(article_id, generation)
        return self.get(article_id)

    def update(
        self, article_id: int, changes: dict[str, Any], *, actor: str, at: datetime | None = None
    ) -> dict[str, Any]:
        """Change any of title, body, tags, state, known_errors, problems."""
        if not isinstance(changes, dict) or not changes:
            raise ArticleError("body: nothing to change")
        unknown = sorted(set(changes) - {"title", "body", "tags", "state", *LINK_KINDS})
        if unknown:
            raise ArticleError(f"{unknown[0]}: not a field of an article")
        bounded_text(actor, "actor", 200, error=ArticleError)
        current = self.get(article_id)
        fields = self._check({**current, **changes})
        now = utc(at, "at")
        with self.store.transaction() as cur:
            cur.execute(
                "UPDATE kb_articles SET title = ?, body = ?, tags = ?, state = ?, updated_at = ? "
                "WHERE id = ?",
                [fields["title"], fields["body"], json.dumps(fields["tags"]), fields["state"],
                 now, article_id],
            )  # fmt: skip
            cur.execute("DELETE FROM kb_article_links WHERE article_id = ?", [article_id])
            self._links(cur, article_id, fields)
            generation = self._bump(cur)
        self._reindex(article_id, generation)
        return self.get(article_id)

    def _check(self, a: dict[str, Any]) -> dict[str, Any]:
        state = a.get("state")
        if state not in STATES:
            raise ArticleError(f"state: one of {', '.join(STATES)}, got {state!r}")
        out = {
            "title": bounded_text(a.get("title"), "title", MAX_TITLE, error=ArticleError),
            "body": bounded_text(a.get("body"), "body", MAX_BODY, error=ArticleError),
            "tags": _tags(a.get("tags")),
            "state": state,
            "known_errors": _ids(a.get("known_errors"), "known_errors"),
            "problems": _ids(a.get("problems"), "problems"),
        }
        if self.problems is not None:
            for i, ke in enumerate(out["known_errors"]):
                try:
                    self.problems.get_known_error(ke)
                except ValueError:
                    raise ArticleNotFound(f"known_errors[{i}]: no known error {ke}") from None
            for i, p in enumerate(out["problems"]):
                try:
                    self.problems.get_problem(p)
                except ValueError:
                    raise ArticleNotFound(f"problems[{i}]: no problem {p}") from None
        return out

    def _links(self, cur, article_id: int, fields: dict[str, Any]) -> None:
        for kind in LINK_KINDS:
            for ref in fields[kind]:
                cur.execute(
                    "INSERT INTO kb_article_links VALUES (?, ?, ?)",
                    [article_id, kind.rstrip("s"), ref],
                )

    def _bump(self, cur) -> int:
        rows = fetch_dicts(cur, "SELECT value FROM engine_state WHERE key = ?", [GENERATION_KEY])
        generation = int(rows[0]["value"]) + 1 if rows else 1
        self.store.set_state(GENERATION_KEY, str(generation), cur)
        return generation

    def _reindex(self, article_id: int, generation: int) -> None:
        try:
            self.index.replace(self._articles("WHERE id = ?", [article_id]), generation)
        except Exception:  # the store has it; the next start rebuilds the index
            log.exception("knowledge base: indexing article %s failed", article_id)

    def feedback(
        self,
        article_id: int,
        *,
        helpful: bool,
        actor: str,
        ticket_id: int | None = None,
        comment: str | None = None,
        at: datetime | None = None,
    ) -> dict[str, Any]:
        if not isinstance(helpful, bool):
            raise ArticleError("helpful: true or false")
        actor = bounded_text(actor, "actor", 200, error=ArticleError)
        comment = bounded_text(comment, "comment", 5_000, required=False, error=ArticleError)
        if ticket_id is not None and (
            isinstance(ticket_id, bool) or not isinstance(ticket_id, int)
        ):
            raise ArticleError("ticket_id: a ticket id")
        self.get(article_id)
        if ticket_id is not None and not query_dicts(
            self.store, "SELECT 1 FROM tickets WHERE id = ?", [ticket_id]
        ):
            raise ArticleNotFound(f"ticket_id: no ticket {ticket_id}")
        now = utc(at, "at")
        with self.store.transaction() as cur:
            fid = self.store.next_id(cur, "kb_feedback", 1)
            cur.execute(
                "INSERT INTO kb_feedback VALUES (?, ?, ?, ?, ?, ?, ?)",
                [fid, article_id, now, helpful, ticket_id, actor, comment],
            )
        return {"id": fid, "article_id": article_id, "helpful": helpful, "ticket_id": ticket_id}

    # -- reads --------------------------------------------------------------
    def _articles(self, where: str, params: list) -> list[dict[str, Any]]:
        rows = query_dicts(self.store, f"SELECT * FROM kb_articles {where} ORDER BY id", params)
        for r in rows:
            r["tags"] = json.loads(r["tags"])
        return rows

    def get(self, article_id: int, *, count_view: bool = False) -> dict[str, Any]:
        if isinstance(article_id, bool) or not isinstance(article_id, int):
            raise ArticleError(f"id: an article id is a whole number, got {article_id!r}")
        if count_view:
            with self.store.transaction() as cur:
                cur.execute("UPDATE kb_articles SET views = views + 1 WHERE id = ?", [article_id])
        rows = self._articles("WHERE id = ?", [article_id])
        if not rows:
            raise ArticleNotFound(f"article {article_id}: no such article")
        a = rows[0]
        links = query_dicts(
            self.store,
            "SELECT kind, ref_id FROM kb_article_links WHERE article_id = ? ORDER BY kind, ref_id",
            [article_id],
        )
        a["known_errors"] = [r["ref_id"] for r in links if r["kind"] == "known_error"]
        a["problems"] = [r["ref_id"] for r in links if r["kind"] == "problem"]
        [fb] = query_dicts(
            self.store,
            "SELECT count(*) FILTER (WHERE helpful) AS helpful, "
            "count(*) FILTER (WHERE NOT helpful) AS not_helpful FROM kb_feedback "
            "WHERE article_id = ?",
            [article_id],
        )
        a["feedback"] = fb
        return a

    def search(
        self,
        q: str | None,
        *,
        tags: list[str] | None = None,
        state: str | None = "published",
        limit: int = 10,
        offset: int = 0,
    ) -> dict[str, Any]:
        """Articles ranked by relevance to ``q`` (BM25; stemmed; title and tags weigh more),
        each with a highlighted passage; without ``q``, the newest first."""
        if state is not None and state not in STATES:
            raise ArticleError(f"state: one of {', '.join(STATES)}, got {state!r}")
        tag_filter = _tags(tags)
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 100:
            raise ArticleError(f"limit: 1..100, got {limit!r}")
        if q is not None and len(q) > MAX_QUERY:
            raise ArticleError(f"q: at most {MAX_QUERY} characters")
        if not q or not q.strip():
            return self._newest(tag_filter, state, limit, offset)
        total, hits = self.index.search(q, limit=limit, offset=offset, tags=tag_filter, state=state)
        meta = self._meta([h.id for h in hits])
        return {
            "total": total,
            "hits": [
                {"id": h.id, "score": h.score, "title": meta[h.id]["title"],
                 "title_html": h.title_html, "highlight": h.highlight,
                 "tags": meta[h.id]["tags"], "state": meta[h.id]["state"],
                 "updated_at": meta[h.id]["updated_at"]}
                for h in hits if h.id in meta
            ],
        }  # fmt: skip

    def _meta(self, ids: list[int]) -> dict[int, dict[str, Any]]:
        if not ids:
            return {}
        rows = self._articles(
            f"WHERE id IN ({', '.join('?' * len(ids))})", ids
        )  # only '?' placeholders are formatted in
        return {r["id"]: r for r in rows}

    def _newest(self, tags, state, limit, offset) -> dict[str, Any]:
        where, params = [], []
        if state is not None:
            where.append("state = ?")
            params.append(state)
        for tag in tags:
            where.append("tags LIKE ?")
            params.append(f'%"{tag}"%')  # tags are [a-z0-9_.:-]: no LIKE wildcards
        clause = ("WHERE " + " AND ".join(where)) if where else ""
        [total] = query_dicts(self.store, f"SELECT count(*) AS n FROM kb_articles {clause}", params)
        rows = query_dicts(
            self.store,
            f"SELECT id, title, tags, state, updated_at FROM kb_articles {clause} "
            "ORDER BY updated_at DESC, id DESC LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )
        for r in rows:
            r["tags"] = json.loads(r["tags"])
        return {"total": total["n"], "hits": rows}

    def suggest(self, subject: str, description: str = "", *, limit: int = 5) -> list[dict]:
        """Published articles for a ticket, from its subject and description (the subject
        counted twice: it is the requester's own summary)."""
        text = f"{subject} {subject} {description[:2_000]}"
        text = text.replace('"', " ")
        if not text.strip():
            return []
        return self.search(text[:MAX_QUERY], limit=limit)["hits"]

    def stats(self, start: datetime, end: datetime, limit: int = 20) -> list[dict[str, Any]]:
        from opsengine.store.named_queries import run_query

        return run_query(
            self.store, "kb_article_stats", {"from": start, "to": end, "limit": limit}
        ).to_pylist()
