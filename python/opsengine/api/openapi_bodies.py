"""OpenAPI request bodies for the routes that read their body raw (ingest, OTLP, rule files).

Those handlers take ``request.body()`` themselves, because one route accepts several media
types; Litestar cannot see a body then, so each such route names an ``operation_class``
from :func:`raw_body` that documents what it accepts (and, for OTLP, that it answers in
the request's encoding), for generated clients.
"""

from __future__ import annotations

from dataclasses import dataclass

from litestar.openapi.spec import (
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    RequestBody,
    Schema,
)

TEXT = Schema(type=OpenAPIType.STRING)
BINARY = Schema(type=OpenAPIType.STRING, format="binary")  # type: ignore[arg-type]
OBJECT = Schema(type=OpenAPIType.OBJECT)


def raw_body(
    description: str, content: dict[str, Schema], answers: dict[str, Schema] | None = None
) -> type[Operation]:
    """An Operation class whose request body lists ``content`` (media type → schema), and
    whose 200 answer lists ``answers`` when the handler answers in the request's type."""
    body = RequestBody(
        content={media: OpenAPIMediaType(schema=schema) for media, schema in content.items()},
        description=description,
        required=True,
    )

    @dataclass
    class RawBodyOperation(Operation):
        def __post_init__(self) -> None:
            if self.request_body is None:
                self.request_body = body
            ok = (self.responses or {}).get("200")
            if answers and isinstance(ok, OpenAPIResponse):
                ok.content = {m: OpenAPIMediaType(schema=a) for m, a in answers.items()}

    return RawBodyOperation
