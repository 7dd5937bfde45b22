"""Jinja2 with the GOV.UK Frontend macros and csmap's own templates."""

from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PackageLoader, PrefixLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from app.settings import Settings
from contexts.access import ROLE_LABELS, Actor, Permission, Role, can
from contexts.concerns.models import ConcernKind

TEMPLATE_DIR = Path(__file__).parent / "web" / "templates"


def build_environment() -> Environment:
    """Create the template environment; autoescape keeps user markup inert."""
    environment = Environment(
        loader=ChoiceLoader(
            [
                FileSystemLoader(TEMPLATE_DIR),
                PrefixLoader({"govuk_frontend_jinja": PackageLoader("govuk_frontend_jinja")}),
            ]
        ),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.globals.update(
        ROLE_LABELS=ROLE_LABELS, Role=Role, Permission=Permission, can=can, ConcernKind=ConcernKind
    )
    return environment


def render(
    request: Request, template: str, context: dict[str, Any] | None = None, *, status_code: int = 200
) -> HTMLResponse:
    """Render a page with the common context (marking, demo flag, actor, nonce, CSRF)."""
    settings: Settings = request.app.state.settings
    environment: Environment = request.app.state.templates
    actor: Actor | None = getattr(request.state, "actor", None)
    page = environment.get_template(template).render(
        request=request,
        settings=settings,
        marking=settings.protective_marking,
        demo_mode=settings.demo_mode,
        actor=actor,
        csrf_token=getattr(request.state, "csrf_token", ""),
        csp_nonce=getattr(request.state, "csp_nonce", ""),
        **(context or {}),
    )
    return HTMLResponse(page, status_code=status_code)
