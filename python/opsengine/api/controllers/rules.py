"""``/api/v1/rules``: the rules the engine runs — list, validate a rule file, reload.

Validation compiles the rules exactly as loading does (YAML, fields, patterns in the
core), so a file that validates here loads on reload; errors name the line and rule. It is
CPU work (a 1 MiB file takes seconds): it runs on a worker thread, one validation at a
time, with the body bounded, so ingest and ``/health`` keep answering meanwhile.
"""

from __future__ import annotations

import anyio.to_thread
import msgspec
from anyio import CapacityLimiter
from litestar import Controller, Request, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery

from opsengine.api.auth import ADMIN, VIEWER
from opsengine.api.context import EngineDep, ServicesDep
from opsengine.api.errors import ApiError, FieldError
from opsengine.api.openapi_bodies import TEXT, raw_body
from opsengine.rules import Rule, RuleError, RuleSet, parse_rule_text

RULE_FILE_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/plain")
MAX_RULE_FILE_BYTES = 1 << 20
# Validations running at once: each holds a worker thread for up to seconds.
_VALIDATIONS = CapacityLimiter(1)


class RuleInfo(msgspec.Struct):
    name: str
    kind: str
    severity: str
    category: str
    summary: str
    pattern: str | None
    expr: str | None
    labels: dict[str, str]
    file: str | None
    line: int | None


class ValidationReport(msgspec.Struct):
    ok: bool
    rules: list[str]
    error: str | None = None
    line: int | None = None
    rule: str | None = None


class ReloadReport(msgspec.Struct):
    rules: int
    previous: int


def _info(r: Rule) -> RuleInfo:
    return RuleInfo(
        r.name, r.kind, r.severity, r.category, r.summary, r.pattern, r.expr,
        dict(r.labels), r.file, r.line,
    )  # fmt: skip


def _compiled(text: str) -> list[Rule]:
    """Parse and compile a rule file as loading does (the core compiles without the GIL)."""
    rules = parse_rule_text(text, file="<request>")
    RuleSet(rules)
    return rules


class RuleController(Controller):
    path = "/api/v1/rules"
    tags = ["rules"]

    @get("/", guards=[VIEWER], sync_to_thread=False, summary="List the rules in force")
    def list_rules(self, engine: EngineDep, kind: FromQuery[str | None] = None) -> list[RuleInfo]:
        return [_info(r) for r in engine.rules if kind is None or r.kind == kind]

    @get("/{name:str}", guards=[VIEWER], sync_to_thread=False, summary="One rule by name")
    def rule(self, engine: EngineDep, name: FromPath[str]) -> RuleInfo:
        if name not in engine.rules.names:
            raise NotFoundException(f"no rule named {name!r}")
        return _info(engine.rules[name])

    @post(
        "/validate",
        guards=[VIEWER],
        status_code=200,
        summary="Validate a rule file (YAML body); 422 names the line and rule at fault",
        operation_class=raw_body(
            "A rule file: one YAML list of rules.", {"application/yaml": TEXT}
        ),
    )
    async def validate(self, request: Request) -> ValidationReport:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type not in RULE_FILE_TYPES:
            raise ApiError(
                415,
                f"send the rule file as one of {', '.join(RULE_FILE_TYPES)}",
                errors=[FieldError("header:content-type", "unsupported media type")],
            )
        body = await request.body()
        if len(body) > MAX_RULE_FILE_BYTES:
            raise ApiError(
                413,
                f"the rule file is {len(body)} bytes; at most {MAX_RULE_FILE_BYTES} are accepted",
            )
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as e:
            line = body.count(b"\n", 0, e.start) + 1
            raise ApiError(
                422,
                f"the rule file is not valid UTF-8 at line {line}",
                errors=[FieldError(f"body:line {line}", "invalid UTF-8")],
            ) from None
        try:
            rules = await anyio.to_thread.run_sync(_compiled, text, limiter=_VALIDATIONS)
        except RuleError as e:
            raise ApiError(
                422,
                str(e),
                errors=[FieldError(f"body:line {e.line}" if e.line else "body", e.message)],
            ) from None
        return ValidationReport(True, [r.name for r in rules])

    @post(
        "/reload",
        guards=[ADMIN],
        status_code=200,
        sync_to_thread=True,
        summary="Reload the rule files named in the settings (or the default pack)",
    )
    def reload(self, services: ServicesDep) -> ReloadReport:
        engine = services.engine
        previous = len(engine.rules)
        paths = services.settings.rules
        rules = RuleSet.from_yaml(paths) if paths else RuleSet.default()
        engine.reload_rules(rules)
        return ReloadReport(len(rules), previous)
