"""The article search index: tantivy (BM25 ranking, English stemming, snippets).

Chosen over DuckDB's ``fts`` extension because that extension is downloaded at run time
(this engine must work offline) and its index is rebuilt whole on every change; tantivy
adds and deletes single documents and ships as a wheel. The index is derived data: the
``kb_articles`` table is the truth. Each write bumps a generation in the store (in the
article's own transaction) and, once the index has committed, in the ``generation`` file
beside it; at start a missing, unreadable or behind index is rebuilt from the table.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tantivy

TITLE_BOOST = 2.0
TAGS_BOOST = 1.5
WRITER_HEAP = 32_000_000
SNIPPET_CHARS = 200
_SYNTAX = re.compile(r"[^\w\s\"-]+")


def _schema() -> tantivy.Schema:
    sb = tantivy.SchemaBuilder()
    sb.add_integer_field("id", stored=True, indexed=True, fast=True)
    sb.add_text_field("title", stored=True, tokenizer_name="en_stem")
    sb.add_text_field("body", stored=True, tokenizer_name="en_stem")
    sb.add_text_field("tagtext", stored=False, tokenizer_name="en_stem")
    sb.add_text_field("tags", stored=False, tokenizer_name="raw")
    sb.add_text_field("state", stored=False, tokenizer_name="raw")
    return sb.build()


@dataclass(frozen=True)
class Hit:
    id: int
    score: float
    title_html: str
    highlight: str  # HTML: the best passage of the body, matches in <b>, the rest escaped


class ArticleIndex:
    """One tantivy index in ``path`` (None: in memory)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.schema = _schema()
        self._lock = threading.Lock()
        self.index = self._open()

    def _open(self) -> tantivy.Index:
        if self.path is None:
            return tantivy.Index(self.schema)
        self.path.mkdir(parents=True, exist_ok=True)
        try:
            return tantivy.Index(self.schema, path=str(self.path), reuse=True)
        except ValueError:  # another schema or a damaged directory: it is derived data
            shutil.rmtree(self.path)
            self.path.mkdir(parents=True)
            return tantivy.Index(self.schema, path=str(self.path), reuse=True)

    # -- generation ---------------------------------------------------------
    def generation(self) -> int | None:
        if self.path is None:
            return None
        try:
            return int((self.path / "generation").read_text())
        except (OSError, ValueError):
            return None

    def _mark(self, generation: int) -> None:
        if self.path is not None:
            tmp = self.path / "generation.tmp"
            tmp.write_text(str(generation))
            tmp.replace(self.path / "generation")

    # -- writes -------------------------------------------------------------
    def replace(self, articles: Iterable[dict[str, Any]], generation: int, *, all_: bool = False):
        """Put ``articles`` in the index (replacing their old versions); ``all_`` empties it
        first (a rebuild)."""
        with self._lock:
            writer = self.index.writer(heap_size=WRITER_HEAP, num_threads=1)
            try:
                if all_:
                    writer.delete_all_documents()
                for a in articles:
                    writer.delete_documents_by_term("id", a["id"])
                    writer.add_document(
                        tantivy.Document(
                            id=a["id"],
                            title=a["title"],
                            body=a["body"],
                            tagtext=" ".join(a["tags"]),
                            tags=list(a["tags"]),
                            state=a["state"],
                        )
                    )
                writer.commit()
                writer.wait_merging_threads()
            except BaseException:
                with contextlib.suppress(Exception):
                    writer.rollback()
                raise
            self.index.reload()
            self._mark(generation)

    # -- reads --------------------------------------------------------------
    def search(
        self,
        text: str,
        *,
        limit: int = 10,
        offset: int = 0,
        tags: list[str] | None = None,
        state: str | None = "published",
        exclude: Iterable[int] = (),
    ) -> tuple[int, list[Hit]]:
        """(matches, the hits ranked by BM25) for the words of ``text``; words in quotes
        are a phrase. Filters: every tag in ``tags``, the ``state``."""
        query = self._parse(text)
        must = [(tantivy.Occur.Must, query)]
        for tag in tags or []:
            must.append((tantivy.Occur.Must, tantivy.Query.term_query(self.schema, "tags", tag)))
        if state is not None:
            must.append((tantivy.Occur.Must, tantivy.Query.term_query(self.schema, "state", state)))
        for article_id in exclude:
            must.append(
                (tantivy.Occur.MustNot, tantivy.Query.term_query(self.schema, "id", article_id))
            )
        searcher = self.index.searcher()
        result = searcher.search(
            tantivy.Query.boolean_query(must), limit=limit, offset=offset, count=True
        )
        body = tantivy.SnippetGenerator.create(searcher, query, self.schema, "body")
        body.set_max_num_chars(SNIPPET_CHARS)
        title = tantivy.SnippetGenerator.create(searcher, query, self.schema, "title")
        title.set_max_num_chars(1_000)
        hits = []
        for score, address in result.hits:
            doc = searcher.doc(address)
            title_html = title.snippet_from_doc(doc).to_html() or _escape(doc["title"][0])
            hits.append(
                Hit(doc["id"][0], round(score, 4), title_html, body.snippet_from_doc(doc).to_html())
            )
        return result.count or 0, hits

    def _parse(self, text: str) -> tantivy.Query:
        fields = ["title", "body", "tagtext"]
        boosts = {"title": TITLE_BOOST, "tagtext": TAGS_BOOST}
        cleaned = _SYNTAX.sub(" ", text)
        if cleaned.count('"') % 2:
            cleaned = cleaned.replace('"', " ")
        cleaned = re.sub(r"(^|\s)-+", r"\1", cleaned)  # a leading '-' would exclude the word
        query, errors = self.index.parse_query_lenient(cleaned, fields, field_boosts=boosts)
        if errors:
            plain = cleaned.replace('"', " ")
            query, _ = self.index.parse_query_lenient(plain, fields, field_boosts=boosts)
        return query

    def count(self) -> int:
        return self.index.searcher().num_docs


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
