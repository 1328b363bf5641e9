"""Error responses in the OpenAPI document, derived from what each route declares.

Every error of the API is an RFC 9457 problem (``application/problem+json``). Rather than asking
each route to list them by hand (the review found 124 undocumented status codes), the document is
completed from facts the core already knows about every route: its scope declaration (401, 403),
its path parameters (404), whether it takes a body (413, 415), validation (422), rate limits
(429) and the ``default`` problem for anything else (409 conflicts, 503 busy...). A route's own
``responses=`` descriptions are kept.
"""
from __future__ import annotations

from typing import Any

from .routescopes import api_routes, declaration_of

PROBLEM_SCHEMA = {
    "type": "object",
    "description": "RFC 9457 problem details; `type` is stable (see docs/problems.md)",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string", "examples": ["/problems/not-found"]},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
    },
    "additionalProperties": True,
}
_REF = {"$ref": "#/components/schemas/Problem"}
_RATE_HEADERS = {
    "RateLimit-Policy": {"description": "draft-ietf-httpapi-ratelimit-headers: the caller's policy",
                         "schema": {"type": "string"}},
    "RateLimit": {"description": "remaining quota (r) and seconds to reset (t)", "schema": {"type": "string"}},
}


def _problem(description: str, headers: dict | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"description": description, "content": {"application/problem+json": {"schema": _REF}}}
    if headers:
        out["headers"] = headers
    return out


def complete(app, schema: dict[str, Any]) -> dict[str, Any]:
    """Add the problem responses to every operation of ``schema`` (in place; idempotent)."""
    if schema.get("x-problems-documented"):
        return schema
    schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    decls = {}
    for route in api_routes(app):
        for method in route.methods:
            decls[(route.path_format, method.lower())] = (declaration_of(route), bool(route.dependant.path_params))
    for path, item in schema.get("paths", {}).items():
        for method, op in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            decl, has_params = decls.get((path, method), (None, False))
            responses = op.setdefault("responses", {})

            def add(code: str, desc: str, headers: dict | None = None) -> None:
                if code not in responses:  # a route's own description is kept
                    responses[code] = _problem(desc, headers)

            add("422", "invalid input (`validation` and more specific types)")
            if decl is not None:  # counted against a rate-limit policy
                add("429", "rate limited (`rate-limited`); see Retry-After", {
                    "Retry-After": {"schema": {"type": "integer"}}, **_RATE_HEADERS})
                for code, resp in responses.items():
                    if code.startswith("2"):
                        resp.setdefault("headers", {}).update(_RATE_HEADERS)
            if decl is not None and not decl.public:
                add("401", "missing, invalid or expired credentials (`unauthorized`, `token-expired`)")
            if decl is not None and not decl.public and not decl.optional:
                add("403", "the token lacks the scope (`insufficient-scope`) or the caller may not (`forbidden`)")
            if has_params or (decl is not None and decl.optional):
                add("404", "not found, or not revealed to this caller (`not-found`)")
            if "requestBody" in op:
                add("413", "the body is larger than the route accepts (`payload-too-large`)")
            responses.setdefault("default", _problem("any other error, as a problem (see docs/problems.md)"))
            for code, resp in responses.items():  # every error the route lists is a problem document
                if code[0] in "45":
                    resp["content"] = {"application/problem+json": {"schema": _REF}}
    schema["x-problems-documented"] = True
    return schema
