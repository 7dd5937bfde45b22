"""One error shape, 413 for big bodies, HTML pages for browsers, and no data in logs or responses."""

import json
import logging
from collections.abc import Callable, Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.deps import Public
from app.logs import JsonFormatter
from tests.conftest import ROOT, World, bearer, web_sign_in

SECRET_TEXT = "Zanzibar-Quokka-7731"


@pytest.fixture
def json_logs(caplog: pytest.LogCaptureFixture) -> Callable[[], list[str]]:
    """Every server-side log line so far in the test, as the JSON formatter renders it.

    The test client's own loggers (httpx, httpcore) are left out: they are not the app's.
    """
    caplog.set_level(logging.DEBUG)
    formatter = JsonFormatter()
    client_side = ("httpx", "httpcore")
    return lambda: [formatter.format(r) for r in caplog.records if not r.name.startswith(client_side)]


def test_unknown_api_path_is_json_404(client: TestClient) -> None:
    response = client.get("/api/nothing-here")
    assert response.status_code == 404
    assert response.json() == {"error": "not_found", "detail": "There is nothing at this address."}


def test_unknown_page_is_html_404_for_browsers(client: TestClient) -> None:
    response = client.get("/nothing-here", headers={"Accept": "text/html"})
    assert response.status_code == 404
    assert "text/html" in response.headers["content-type"]
    assert "Page not found" in response.text
    assert "OFFICIAL-SENSITIVE" in response.text


def test_invalid_json_names_field_paths_and_changes_nothing(client: TestClient, world: World) -> None:
    headers = bearer(client, "user-agency-admin")
    before = client.get("/api/users", headers=headers).json()["total"]
    response = client.post(
        "/api/users",
        json={
            "username": f"{SECRET_TEXT} !",
            "display_name": "A",
            "agency_id": "x",
            "roles": ["boss"],
            "password": "short",
        },
        headers=headers,
    )
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "invalid_input"
    paths = {field["path"] for field in body["fields"]}
    assert {"body.username", "body.display_name", "body.agency_id", "body.roles.0", "body.password"} <= paths
    assert SECRET_TEXT not in response.text
    assert client.get("/api/users", headers=headers).json()["total"] == before


def test_body_over_limit_is_413_by_header(client: TestClient, settings: object) -> None:
    response = client.post(
        "/api/token", content=b"x" * (1024 * 1024 + 1), headers={"content-type": "text/plain"}
    )
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"


def test_body_over_limit_is_413_when_streamed(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(20):
            yield b"y" * 65536

    response = client.post(
        "/api/token", content=chunks(), headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == 413


def test_unexpected_error_is_500_with_reference_only(
    app: FastAPI, json_logs: Callable[[], list[str]]
) -> None:
    @app.get("/api/explode")
    def explode(_: Public) -> None:
        raise RuntimeError(f"SELECT * FROM young_person WHERE name = '{SECRET_TEXT}'")

    client = TestClient(app, raise_server_exceptions=False)
    response = client.get("/api/explode", headers={"X-Request-ID": "trace-abc-123"})
    assert response.status_code == 500
    assert response.json()["error"] == "internal_error"
    assert "trace-abc-123" in response.json()["detail"]
    assert SECRET_TEXT not in response.text
    assert "Traceback" not in response.text
    logged = "\n".join(json_logs())
    assert "RuntimeError" in logged
    assert SECRET_TEXT not in logged


def test_free_text_never_reaches_logs(
    client: TestClient, world: World, json_logs: Callable[[], list[str]]
) -> None:
    client.post("/api/token", data={"username": SECRET_TEXT, "password": SECRET_TEXT})
    web_sign_in(client, SECRET_TEXT, password=SECRET_TEXT)
    headers = bearer(client, "user-agency-admin")
    client.get(f"/api/users?search={SECRET_TEXT}", headers=headers)
    client.post("/api/users", json={"display_name": SECRET_TEXT}, headers=headers)
    lines = json_logs()
    assert lines
    for line in lines:
        json.loads(line)
        assert SECRET_TEXT not in line


def test_access_log_has_request_id_route_and_status(
    client: TestClient, json_logs: Callable[[], list[str]]
) -> None:
    client.get("/healthz", headers={"X-Request-ID": "abcdef123456"})
    access = [json.loads(line) for line in json_logs() if '"csmap.access"' in line]
    assert access[-1]["request_id"] == "abcdef123456"
    assert access[-1]["route"] == "/healthz"
    assert access[-1]["status"] == 200


def test_request_id_is_echoed_or_generated(client: TestClient) -> None:
    assert (
        client.get("/healthz", headers={"X-Request-ID": "given-id-0001"}).headers["x-request-id"]
        == "given-id-0001"
    )
    generated = client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"}).headers["x-request-id"]
    assert len(generated) == 32


def test_security_headers_on_every_response(client: TestClient) -> None:
    for path in ("/login", "/healthz", "/api/nothing", "/static/favicon.svg"):
        headers = client.get(path).headers
        csp = headers["content-security-policy"]
        assert "default-src 'self'" in csp
        assert "frame-ancestors 'none'" in csp
        assert "script-src 'self' 'nonce-" in csp
        assert "unsafe-inline" not in csp
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
        assert "strict-transport-security" not in headers


def test_csp_nonce_differs_per_request(client: TestClient) -> None:
    first = client.get("/login").headers["content-security-policy"]
    second = client.get("/login").headers["content-security-policy"]
    assert first != second


def test_hsts_when_forced_https(settings: object, db_session: object, app_engine: object) -> None:
    from sqlalchemy.orm import sessionmaker

    from app.main import create_app
    from app.settings import Settings

    assert isinstance(settings, Settings)
    forced = create_app(settings.model_copy(update={"force_https": True}), factory=sessionmaker())
    headers = TestClient(forced).get("/healthz").headers
    assert headers["strict-transport-security"].startswith("max-age=")


def test_assets_are_compressed_and_cacheable_while_pages_are_neither(client: TestClient) -> None:
    asset = client.get("/static/js/places-map.mjs", headers={"Accept-Encoding": "gzip"})
    assert asset.status_code == 200
    assert asset.headers["content-encoding"] == "gzip"
    assert asset.headers["cache-control"] == "public, max-age=3600"
    assert asset.text.startswith("// Place maps built by mapping/render.py")
    page = client.get("/login", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in page.headers
    assert page.headers["cache-control"] == "no-store"


def test_assets_the_build_compressed_are_sent_as_built(client: TestClient) -> None:
    built = ROOT / "app/web/static/build/leaflet/leaflet.js"
    assert built.with_name("leaflet.js.gz").is_file()
    packed = client.get("/static/build/leaflet/leaflet.js", headers={"Accept-Encoding": "gzip"})
    assert packed.status_code == 200
    assert packed.headers["content-encoding"] == "gzip"
    assert packed.headers["content-type"].startswith("text/javascript")
    assert packed.headers["cache-control"] == "public, max-age=3600"
    assert packed.content == built.read_bytes()
    plain = client.get("/static/build/leaflet/leaflet.js", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert plain.content == built.read_bytes()
