"""The app factory: settings, middleware, error handlers, routers and static files."""

import gc
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from os import PathLike
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.datastructures import Headers
from starlette.middleware.gzip import GZipMiddleware
from starlette.responses import FileResponse, Response
from starlette.types import Scope

from app.api import (
    agencies,
    areas,
    assessments,
    audit,
    concerns,
    health,
    hotspots,
    language,
    missing,
    ogc,
    persons,
    places,
    users,
    young_people,
)
from app.api import auth as auth_api
from app.db import session_factory
from app.deps import Public
from app.errors import install_error_handlers
from app.logs import configure_logging
from app.middleware import (
    AdmissionMiddleware,
    BodyLimitMiddleware,
    RequestContextMiddleware,
    SecurityHeadersMiddleware,
)
from app.settings import InsecureSettings, Settings, get_settings
from app.templating import build_environment
from app.web import admin, links, maps, pages, people
from app.web import assessments as assessment_pages
from app.web import missing as missing_pages
from app.web import places as place_pages
from contexts.access import Permission
from contexts.accounts.models import User
from contexts.language.checker import load_rules
from mapping import registry as model_registry
from mapping.ogc import hotspots_collection, register

STATIC_DIR = Path(__file__).parent / "web" / "static"
PUBLIC_MOUNTS: dict[str, Permission] = {"/static": Permission.PUBLIC}
"""Mounted sub-apps and the permission each declares (the route walk test reads this)."""

log = logging.getLogger("csmap")
MODELS = model_registry.metadata
"""Every table, domain and mapping alike: foreign keys such as concern.place_id resolve only if
all models are imported before the first flush."""


def refuse_demo_users_outside_demo(settings: Settings, factory: sessionmaker[Session]) -> None:
    """Outside demo mode, refuse to serve while demo accounts exist."""
    if settings.demo_mode:
        return
    with factory() as session:
        if (
            session.scalar(select(User.id).where(User.is_demo.is_(True), User.is_active.is_(True)).limit(1))
            is not None
        ):
            raise InsecureSettings(
                "Demo accounts exist in this database: remove them (csmap demo --remove) "
                "or run with CSMAP_DEMO_MODE=true."
            )


class CachedStaticFiles(StaticFiles):
    """Front-end assets hold no personal data, so browsers may keep them for an hour. Those the asset
    build compressed (a `.gz` beside the file, no older than it) are sent as they are to browsers that
    accept gzip, instead of being compressed again on every request."""

    def file_response(
        self,
        full_path: PathLike[str] | str,
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        """The file (or its build-time gzip), with a Cache-Control that replaces the app-wide no-store."""
        response = super().file_response(full_path, stat_result, scope, status_code)
        packed = Path(f"{full_path}.gz")
        if (
            isinstance(response, FileResponse)
            and response.status_code == 200
            and "gzip" in Headers(scope=scope).get("accept-encoding", "")
            and packed.is_file()
            and packed.stat().st_mtime >= stat_result.st_mtime
        ):
            response = FileResponse(
                packed,
                stat_result=packed.stat(),
                media_type=response.media_type,
                headers={"Content-Encoding": "gzip", "Vary": "Accept-Encoding"},
            )
        response.headers["Cache-Control"] = "public, max-age=3600"
        return response


GC_THRESHOLDS = (50_000, 20, 100)
"""Young-object collections every 50,000 allocations instead of 700: a 2,000-entry chronology page
allocates hundreds of thousands of objects, and the default thresholds ran a full collection over
the whole heap (modules, templates, mappings) in about one page in ten, tripling its p95."""


def quieten_garbage_collector() -> None:
    """Move start-up objects out of the collector's sight and collect young objects less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def create_app(settings: Settings | None = None, *, factory: sessionmaker[Session] | None = None) -> FastAPI:
    """Build the csmap app for the given settings (and, in tests, session factory)."""
    settings = settings or get_settings()
    settings.refuse_if_insecure()
    load_rules(settings.language_rules_file)
    factory = factory or session_factory(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        refuse_demo_users_outside_demo(settings, factory)
        log.info("csmap started", extra={"demo_mode": settings.demo_mode})
        yield

    app = FastAPI(
        title="csmap",
        summary="Contextual Safeguarding Map: chart, map and disrupt the contexts of exploitation.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.settings = settings
    app.state.session_factory = factory
    app.state.templates = build_environment()
    register(hotspots_collection(settings.disclosure_policy()))
    install_error_handlers(app)
    for router in (
        health.router,
        auth_api.router,
        users.router,
        young_people.router,
        concerns.router,
        persons.router,
        missing.router,
        places.router,
        areas.router,
        ogc.router,
        hotspots.router,
        assessments.router,
        language.router,
        agencies.router,
        audit.router,
        pages.router,
        admin.router,
        people.router,
        assessment_pages.router,
        missing_pages.router,
        links.router,
        place_pages.router,
        maps.router,
    ):
        app.include_router(router)

    @app.get("/api/openapi.json", include_in_schema=False)
    def openapi(_: Public) -> dict[str, Any]:
        """The OpenAPI description of the JSON API."""
        return app.openapi()

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon(_: Public) -> RedirectResponse:
        """Browsers ask for this path; point them at the SVG icon."""
        return RedirectResponse("/static/favicon.svg", status_code=301)

    # Assets only (pages carry CSRF tokens and stay uncompressed): gzip, and cacheable for an hour.
    app.mount(
        "/static", GZipMiddleware(CachedStaticFiles(directory=STATIC_DIR), minimum_size=1024), name="static"
    )
    app.add_middleware(AdmissionMiddleware, limit=settings.request_threads)
    app.add_middleware(SecurityHeadersMiddleware, force_https=settings.force_https)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestContextMiddleware)
    return app


def app_factory() -> FastAPI:
    """Entry point for uvicorn --factory: configure logging, then build the app."""
    settings = get_settings()
    configure_logging(settings.log_level)
    app = create_app(settings)
    quieten_garbage_collector()
    return app
