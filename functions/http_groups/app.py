"""`/groups`: create, view, add, remove (or leave), change role."""

from __future__ import annotations

from typing import Any

from parley import runtime
from parley.models import AddMembersBody, CreateGroupBody, RoleBody, validate
from parley.observability import instrumented
from parley.web import HttpRequest, http_response, serve_http


def create(request: HttpRequest) -> dict[str, Any]:
    user = request.caller.user_id
    body = validate(CreateGroupBody, request.json())
    return http_response(201, runtime.group_service().create(user, body.name, list(body.members)))


def show(request: HttpRequest) -> dict[str, Any]:
    user = request.caller.user_id
    return http_response(200, runtime.group_service().get(user, request.path.get("id", "")))


def add(request: HttpRequest) -> dict[str, Any]:
    user = request.caller.user_id
    body = validate(AddMembersBody, request.json())
    group = runtime.group_service().add_members(
        user, request.path.get("id", ""), list(body.userIds)
    )
    return http_response(200, group)


def remove(request: HttpRequest) -> dict[str, Any]:
    user = request.caller.user_id
    runtime.group_service().remove_member(
        user, request.path.get("id", ""), request.path.get("userId", "")
    )
    return http_response(204)


def role(request: HttpRequest) -> dict[str, Any]:
    user = request.caller.user_id
    body = validate(RoleBody, request.json())
    result = runtime.group_service().set_role(
        user, request.path.get("id", ""), request.path.get("userId", ""), body.role
    )
    return http_response(200, result)


ROUTES = {
    "POST /groups": create,
    "GET /groups/{id}": show,
    "POST /groups/{id}/members": add,
    "DELETE /groups/{id}/members/{userId}": remove,
    "PATCH /groups/{id}/members/{userId}": role,
}


@instrumented()
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return serve_http(event, ROUTES)
