"""The OpenAPI routes are the template's routes, and each is served by its function."""

from __future__ import annotations

import re
from typing import Any

from parley.web import Public
from parley_schema.http import build_openapi
from parley_schema.routes import ROUTES

from tests.integration.test_route_auth import template_routes
from tests.support.handlers import load

METHODS = {"get", "post", "put", "patch", "delete"}


def openapi_routes(document: dict[str, Any]) -> set[str]:
    return {
        f"{method.upper()} {path}"
        for path, operations in document["paths"].items()
        for method in operations
        if method in METHODS
    }


def test_every_template_route_is_in_the_openapi_and_vice_versa() -> None:
    # GIVEN the template's HTTP routes and the OpenAPI document
    template = template_routes()
    # WHEN the two sets of route keys are compared
    documented = openapi_routes(build_openapi())
    # THEN they are the same routes
    assert set(template) == documented
    assert documented == {route.key for route in ROUTES}


def test_each_template_route_is_served_by_its_function() -> None:
    # GIVEN each template route and the function it invokes
    for key, function in template_routes().items():
        if function == "health":
            continue  # a single-route function with no route table
        # WHEN that function's route table is read
        served = load(function).ROUTES
        # THEN it serves the route
        assert key in served, (key, function)


def test_every_function_route_is_in_the_template() -> None:
    # GIVEN the route tables of the HTTP functions
    template = template_routes()
    for function in sorted(set(template.values()) - {"health"}):
        # THEN every route a function serves is one the template sends to it
        for key in load(function).ROUTES:
            assert template.get(key) == function, (key, function)


def test_public_routes_are_the_ones_the_functions_serve_without_a_token() -> None:
    # GIVEN the documented routes and the function each is served by
    template = template_routes()
    document = build_openapi()
    for route in ROUTES:
        operation = document["paths"][route.path][route.method.lower()]
        # THEN a route is public in the document (no bearer security) exactly when its
        # function declares it `public(...)` (/health has no route table: public by nature)
        served_public = template[route.key] == "health" or isinstance(
            load(template[route.key]).ROUTES[route.key], Public
        )
        assert route.public is served_public, route.key
        assert (operation.get("security") == []) is served_public, route.key


def test_path_parameters_match_the_path() -> None:
    # GIVEN each documented operation
    document = build_openapi()
    for path, operations in document["paths"].items():
        expected = re.findall(r"\{(\w+)\}", path)
        for method, operation in operations.items():
            # THEN its path parameters are exactly the path's, required
            params = [p for p in operation.get("parameters", []) if p["in"] == "path"]
            assert [p["name"] for p in params] == expected, (method, path)
            assert all(p["required"] for p in params)
