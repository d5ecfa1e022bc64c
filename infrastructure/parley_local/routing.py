"""Pure routing rules of API Gateway: WebSocket route selection, HTTP route matching, CORS."""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from parley_local.stack import CorsConfig, HttpRoute

# ---------------------------------------------------------------------------- WebSocket


def select_route(expression: str, body: str | bytes | None, route_keys: Collection[str]) -> str:
    """The route key for a frame: apply the API's `RouteSelectionExpression`.

    `$request.body.action` (also `${request.body.action}`, nested `a.b`) takes that field of
    the JSON frame. A frame that is not a JSON object, lacks the field, holds a non-string
    or a key with no route, goes to `$default`.
    """
    path = _body_path(expression)
    if path is None or body is None or isinstance(body, bytes):
        return "$default"
    try:
        value: Any = json.loads(body)
    except ValueError:
        return "$default"
    for part in path:
        if not isinstance(value, dict) or part not in value:
            return "$default"
        value = value[part]
    if not isinstance(value, str) or value not in route_keys:
        return "$default"
    return value


def _body_path(expression: str) -> list[str] | None:
    text = expression.strip()
    if text.startswith("${") and text.endswith("}"):
        text = "$" + text[2:-1]
    prefix = "$request.body."
    if not text.startswith(prefix) or len(text) == len(prefix):
        return None
    return text[len(prefix) :].split(".")


# ---------------------------------------------------------------------------- HTTP


@dataclass(frozen=True)
class RouteMatch:
    route: HttpRoute
    path_parameters: dict[str, str]


def _segments(path: str) -> list[str]:
    return path.strip("/").split("/") if path.strip("/") else []


def _match_path(template: str, path: str) -> tuple[tuple[int, ...], dict[str, str]] | None:
    """(specificity, parameters) when `path` fits `template`, else None."""
    pattern = _segments(template)
    parts = _segments(path)
    score: list[int] = []
    params: dict[str, str] = {}
    for i, seg in enumerate(pattern):
        if seg.startswith("{") and seg.endswith("+}"):
            if i != len(pattern) - 1 or i >= len(parts):
                return None
            params[seg[1:-2]] = unquote("/".join(parts[i:]))
            score.append(0)
            return tuple(score), params
        if i >= len(parts):
            return None
        if seg.startswith("{") and seg.endswith("}"):
            if not parts[i]:
                return None
            params[seg[1:-1]] = unquote(parts[i])
            score.append(1)
        elif seg == parts[i]:
            score.append(2)
        else:
            return None
    if len(parts) != len(pattern):
        return None
    return tuple(score), params


def match_route(routes: Iterable[HttpRoute], method: str, path: str) -> RouteMatch | None:
    """The route API Gateway would pick: most specific path, then explicit method over ANY,
    `$default` last."""
    method = method.upper()
    best: tuple[tuple[Any, ...], RouteMatch] | None = None
    default: HttpRoute | None = None
    for route in routes:
        if route.path == "$default":
            default = route
            continue
        if route.method not in ("ANY", method):
            continue
        found = _match_path(route.path, path)
        if found is None:
            continue
        score, params = found
        key = (score, len(score), route.method != "ANY")
        if best is None or key > best[0]:
            best = (key, RouteMatch(route, params))
    if best is not None:
        return best[1]
    if default is not None:
        return RouteMatch(default, {})
    return None


# ---------------------------------------------------------------------------- CORS

CORS_RESPONSE_HEADERS = (
    "access-control-allow-origin",
    "access-control-allow-credentials",
    "access-control-expose-headers",
    "access-control-allow-methods",
    "access-control-allow-headers",
    "access-control-max-age",
)


def origin_allowed(cors: CorsConfig, origin: str | None) -> str | None:
    """The `Access-Control-Allow-Origin` value for `origin`, or None if it is not allowed."""
    if not origin:
        return None
    for allowed in cors.allow_origins:
        if allowed == "*":
            return origin if cors.allow_credentials else "*"
        if allowed == origin or ("*" in allowed and fnmatch.fnmatchcase(origin, allowed)):
            return origin
    return None


def is_preflight(method: str, headers: Mapping[str, str]) -> bool:
    lower = {k.lower(): v for k, v in headers.items()}
    return (
        method.upper() == "OPTIONS"
        and "origin" in lower
        and "access-control-request-method" in lower
    )


def preflight_headers(cors: CorsConfig, headers: Mapping[str, str]) -> dict[str, str]:
    """Headers of API Gateway's own answer to a CORS preflight (empty if not allowed)."""
    lower = {k.lower(): v for k, v in headers.items()}
    allow_origin = origin_allowed(cors, lower.get("origin"))
    requested = lower.get("access-control-request-method", "").upper()
    if allow_origin is None:
        return {}
    methods = cors.allow_methods
    if "*" not in methods and requested not in methods:
        return {}
    asked = [h.strip().lower() for h in lower.get("access-control-request-headers", "").split(",")]
    asked = [h for h in asked if h]
    if "*" not in cors.allow_headers and any(h not in cors.allow_headers for h in asked):
        return {}
    out = {"access-control-allow-origin": allow_origin}
    out["access-control-allow-methods"] = ",".join(methods) if methods else requested
    if cors.allow_headers:
        out["access-control-allow-headers"] = ",".join(cors.allow_headers)
    if cors.max_age is not None:
        out["access-control-max-age"] = str(cors.max_age)
    if cors.allow_credentials:
        out["access-control-allow-credentials"] = "true"
    return out


def cors_headers(cors: CorsConfig, origin: str | None) -> dict[str, str]:
    """CORS headers API Gateway adds to a normal response for `origin`."""
    allow_origin = origin_allowed(cors, origin)
    if allow_origin is None:
        return {}
    out = {"access-control-allow-origin": allow_origin}
    if cors.allow_credentials:
        out["access-control-allow-credentials"] = "true"
    if cors.expose_headers:
        out["access-control-expose-headers"] = ",".join(cors.expose_headers)
    return out
