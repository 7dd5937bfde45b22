"""Every route declares the permission it needs."""

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import Mount

from app.deps import declared_permission
from app.main import PUBLIC_MOUNTS
from contexts.access import Permission


def permissions_in(dependant: Dependant) -> set[Permission]:
    """Every permission declared anywhere in a route's dependency tree."""
    found: set[Permission] = set()
    if dependant.call is not None and (permission := declared_permission(dependant.call)) is not None:
        found.add(permission)
    for child in dependant.dependencies:
        found |= permissions_in(child)
    return found


def test_every_route_declares_exactly_one_permission(app: FastAPI) -> None:
    checked = 0
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, Mount):
            assert route.path in PUBLIC_MOUNTS, f"mount {route.path} declares no permission"
            continue
        assert isinstance(route, APIRoute), (
            f"{context.path} is not an APIRoute and cannot declare a permission"
        )
        declared = permissions_in(route.dependant)
        assert len(declared) == 1, (
            f"{sorted(route.methods or ())} {context.path} declares {declared or 'no permission'}"
        )
        checked += 1
    assert checked >= 15


def test_walker_catches_a_route_without_permission(app: FastAPI) -> None:
    @app.get("/unguarded")
    def unguarded() -> dict[str, str]:
        return {}

    routes = [context.original_route for context in iter_route_contexts(app.routes)]
    route = next(r for r in routes if isinstance(r, APIRoute) and r.path == "/unguarded")
    assert permissions_in(route.dependant) == set()


def test_openapi_is_served_locally_and_lists_the_api(client: object) -> None:
    from fastapi.testclient import TestClient

    assert isinstance(client, TestClient)
    spec = client.get("/api/openapi.json").json()
    assert "/api/token" in spec["paths"]
    assert "/api/users" in spec["paths"]
    assert "/login" not in spec["paths"]
