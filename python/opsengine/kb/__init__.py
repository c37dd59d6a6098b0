"""The knowledge base: articles in Markdown, ranked full-text search (tantivy, BM25 with
English stemming), suggestions for tickets, reader feedback and article statistics.

``engine.kb`` is :class:`opsengine.kb.service.KnowledgeBase`."""
