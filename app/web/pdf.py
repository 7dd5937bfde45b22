"""Render a page template to PDF with WeasyPrint, fetching nothing from the network."""

from pathlib import Path
from typing import Any

from jinja2 import Environment
from starlette.requests import Request
from weasyprint import CSS, HTML, URLFetcher

from app.settings import Settings

PRINT_CSS = Path(__file__).parent / "static" / "css" / "print.css"


def _fetcher() -> URLFetcher:
    """A fetcher that allows only embedded data: URLs: a PDF never reaches the network or disk."""
    return URLFetcher(allowed_protocols={"data"}, allow_redirects=False)


def render_pdf(request: Request, template: str, context: dict[str, Any]) -> bytes:
    """Render a template (autoescaped, like every page) and turn it into PDF bytes."""
    settings: Settings = request.app.state.settings
    environment: Environment = request.app.state.templates
    html = environment.get_template(template).render(
        marking=settings.protective_marking, demo_mode=settings.demo_mode, **context
    )
    css = CSS(
        string=PRINT_CSS.read_text(encoding="utf-8").replace(
            "__MARKING__", _css_string(settings.protective_marking)
        )
    )
    document = HTML(string=html, url_fetcher=_fetcher(), base_url="about:blank")
    pdf: bytes = document.write_pdf(stylesheets=[css])
    return pdf


def _css_string(text: str) -> str:
    """Quote text for a CSS content string."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'
