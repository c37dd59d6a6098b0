"""Getting data in: files and streams of log lines into the store, with rules matched."""

from opsengine.ingest.logs import IngestError, IngestResult, LogIngestor

__all__ = ["IngestError", "IngestResult", "LogIngestor"]
