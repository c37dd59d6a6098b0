"""RFC 9457 problem details: the one shape of every error the API returns.

Controllers raise :class:`ApiError` (or a domain error mapped in ``DOMAIN_ERRORS``);
Litestar's own exceptions (validation, 401/403/404/405/413/429) are turned into the same
``application/problem+json`` body here. Validation errors carry ``errors``: a list of
``{"field": "$.path", "message": ...}`` so a client can point at the bad input.
Unexpected exceptions become a 500 whose body names a reference, never the exception text,
which goes to the server log with the same reference.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi.datastructures import ResponseSpec

from opsengine.api.user_sql import SqlFailed
from opsengine.ingest import IngestError
from opsengine.rules import RuleError
from opsengine.store import StoreError
from opsengine.store.named_queries import QueryError, QueryRunError
from opsengine.store.sql_gate import WriteRefusedError

log = logging.getLogger("opsengine.api")

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "urn:opsengine:problem:"

_SLUGS = {
    400: "bad-request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    413: "body-too-large",
    415: "unsupported-media-type",
    422: "validation-error",
    429: "rate-limited",
    500: "internal-error",
    501: "not-implemented",
    503: "unavailable",
}


@dataclass(frozen=True)
class FieldError:
    """One bad input: ``field`` is a JSON path (``$.params.from``) or a query/header name."""

    field: str
    message: str


class FieldProblem(msgspec.Struct):
    field: str
    message: str


class Problem(msgspec.Struct, omit_defaults=True):
    """The body of every error (RFC 9457), as the OpenAPI document describes it."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[FieldProblem] = []


ERROR_STATUSES = (400, 401, 403, 404, 409, 413, 415, 422, 429, 500, 503)


def problem_responses() -> dict[int, ResponseSpec]:
    """OpenAPI responses for every error status, all ``application/problem+json``."""
    return {
        status: ResponseSpec(
            data_container=Problem,
            description=_phrase(status),
            media_type=PROBLEM_MEDIA_TYPE,
            generate_examples=False,
        )
        for status in ERROR_STATUSES
    }


class ApiError(Exception):
    """An error answered as problem+json: raise it from a controller or a service adapter."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        errors: Sequence[FieldError] = (),
        headers: Mapping[str, str] | None = None,
        title: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = list(errors)
        self.headers = dict(headers or {})
        self.title = title


def problem_response(
    request: Request | None,
    status: int,
    detail: str,
    *,
    errors: Sequence[FieldError] = (),
    headers: Mapping[str, str] | None = None,
    title: str | None = None,
) -> Response:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + _SLUGS.get(status, str(status)),
        "title": title or _phrase(status),
        "status": status,
        "detail": detail,
    }
    if request is not None:
        body["instance"] = request.url.path
    if errors:
        body["errors"] = [{"field": e.field, "message": e.message} for e in errors]
    return Response(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


# msgspec says "… - at `$.params[0].name`"; Litestar gives the key for query/path values and
# for body fields, and "data" when the message is about the body object itself.
_AT_PATH = re.compile(r"^(?P<message>.*?)(?: - at `(?P<path>[^`]*)`)?$", re.DOTALL)
_MISSING_PARAM = re.compile(r"Missing required (?P<source>\w+) parameter '(?P<name>[^']+)'")
_NAMED_FIELD = re.compile(r"(?:unknown|required) field `(?P<name>[^`]+)`")


def _validation_errors(exc: ValidationException) -> list[FieldError]:
    found: list[FieldError] = []
    extra = exc.extra if isinstance(exc.extra, list) else [exc.extra] if exc.extra else []
    for item in extra:
        if not isinstance(item, dict):
            found.append(FieldError("$", str(item)))
            continue
        m = _AT_PATH.match(str(item.get("message", "invalid value")))
        message, path = m.group("message"), m.group("path")
        key = item.get("key")
        source = getattr(item.get("source"), "value", item.get("source"))
        named = _NAMED_FIELD.search(message)
        if source in ("query", "path", "header", "cookie") and key:
            field = f"{source}:{key}"
        elif path:
            field = path
        elif key and key != "data":
            field = f"$.{key}"
        elif named:
            field = f"$.{named.group('name')}"
        else:
            field = "$"
        found.append(FieldError(field, message))
    return found


def _http_exception(request: Request, exc: HTTPException) -> Response:
    status = exc.status_code
    headers = dict(exc.headers or {})
    if isinstance(exc, ValidationException):
        errors = _validation_errors(exc)
        missing = _MISSING_PARAM.match(exc.detail or "")
        if missing and not errors:
            errors = [FieldError(f"{missing['source']}:{missing['name']}", exc.detail)]
        detail = "the request does not match the schema"
        if errors:
            detail = f"{errors[0].field}: {errors[0].message}" + (
                f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
            )
        # Litestar answers any mismatch as 400; input that parses but does not fit the
        # schema is the client's content, which RFC 9110 names 422 Unprocessable Content.
        if status == 400 and errors:
            status = 422
        return problem_response(request, status, detail, errors=errors, headers=headers)
    detail = exc.detail or _phrase(status)
    if status == 401:
        headers.setdefault("WWW-Authenticate", 'Bearer realm="opsengine"')
    if status == 413:
        services = getattr(request.app.state, "services", None)
        limit = getattr(getattr(services, "api", None), "max_body_bytes", None)
        detail = "request body too large" + (
            f": at most {limit} bytes are accepted (api.max_body_bytes)" if limit else ""
        )
    return problem_response(request, status, detail, headers=headers)


def _api_error(request: Request, exc: ApiError) -> Response:
    return problem_response(
        request, exc.status, exc.detail, errors=exc.errors, headers=exc.headers, title=exc.title
    )


def _domain_error(status: int):
    def handler(request: Request, exc: Exception) -> Response:
        return problem_response(request, status, str(exc))

    return handler


def _store_error(request: Request, exc: StoreError) -> Response:
    # The message names the file and what went wrong, never data or credentials.
    log.error("store error on %s %s: %s", request.method, request.url.path, exc)
    return problem_response(request, 503, f"the store failed: {exc}", headers={"Retry-After": "5"})


def _too_deep(request: Request, exc: RecursionError) -> Response:
    # A parser that recursed per level of its input (the ingest decoders measure nesting
    # first; this covers every other body): the client's input, not a server fault.
    return problem_response(
        request,
        400,
        "the input nests too deeply to be read",
        errors=[FieldError("body", "too deep")],
    )


def _unexpected(request: Request, exc: Exception) -> Response:
    ref = secrets.token_hex(6)
    log.exception("unhandled error on %s %s (ref %s)", request.method, request.url.path, ref)
    return problem_response(
        request, 500, f"internal error; the server log has the details under reference {ref}"
    )


def exception_handlers() -> dict[type[Exception] | int, Any]:
    """The handlers every app registers; more specific classes win over their bases."""
    return {
        ApiError: _api_error,
        HTTPException: _http_exception,
        RuleError: _domain_error(422),
        QueryRunError: _domain_error(422),
        QueryError: _domain_error(422),
        WriteRefusedError: _domain_error(422),
        SqlFailed: _domain_error(422),
        IngestError: _domain_error(422),
        StoreError: _store_error,
        RecursionError: _too_deep,
        Exception: _unexpected,
    }
