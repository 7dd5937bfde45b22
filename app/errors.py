"""Map domain and framework errors to one JSON shape, or to HTML pages for browsers."""

import logging
import traceback
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, RedirectResponse, Response

from app.templating import render
from contexts.errors import (
    AccessDenied,
    AccountLocked,
    AuthenticationFailed,
    Conflict,
    DomainError,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    ReasonRequired,
)

log = logging.getLogger("csmap.errors")

STATUS_BY_ERROR: dict[type[DomainError], int] = {
    NotFound: 404,
    NotAuthenticated: 401,
    AuthenticationFailed: 401,
    AccountLocked: 423,
    AccessDenied: 403,
    Conflict: 409,
    InvalidInput: 422,
    ReasonRequired: 428,
}

HTTP_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "access_denied",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    423: "account_locked",
    428: "reason_required",
    429: "too_many_requests",
    500: "internal_error",
    503: "service_unavailable",
}

PAGE_TITLES = {
    401: "Sign in to continue",
    403: "You cannot do that",
    404: "Page not found",
    405: "That action is not available here",
    409: "That change clashes with another",
    422: "There is a problem with what was sent",
    423: "Account locked",
    428: "Say why you are opening this record",
    500: "Sorry, something went wrong",
    503: "Sorry, the service is unavailable",
}


def wants_html(request: Request) -> bool:
    """Say whether to answer with a page rather than JSON."""
    if request.url.path.startswith(("/api", "/healthz", "/readyz")):
        return False
    return "text/html" in request.headers.get("accept", "")


def error_response(request: Request, status: int, code: str, detail: str, **extra: object) -> Response:
    """Answer with the common JSON error shape or an HTML error page."""
    if wants_html(request):
        return render(
            request,
            "error.html",
            {"status": status, "title": PAGE_TITLES.get(status, "There is a problem"), "detail": detail},
            status_code=status,
        )
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"error": code, "detail": detail, **extra}, status_code=status, headers=headers)


async def domain_error(request: Request, exc: Exception) -> Response:
    """Turn a domain error into its status; send browsers to sign in when needed."""
    assert isinstance(exc, DomainError)
    status = next((STATUS_BY_ERROR[kind] for kind in type(exc).__mro__ if kind in STATUS_BY_ERROR), 400)
    if isinstance(exc, NotAuthenticated | ReasonRequired) and wants_html(request):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        page = "/login" if isinstance(exc, NotAuthenticated) else "/reason"
        return RedirectResponse(f"{page}?next={quote(target, safe='')}", status_code=303)
    return error_response(request, status, exc.code, exc.detail, **exc.extra())


def _field_path(location: tuple[object, ...] | list[object]) -> str:
    """Join a pydantic error location into a dotted path such as body.roles.0."""
    return ".".join(str(part) for part in location)


async def validation_error(request: Request, exc: Exception) -> Response:
    """422 naming each invalid field by path, never echoing the input back."""
    assert isinstance(exc, RequestValidationError)
    fields = [
        {"path": _field_path(error.get("loc", ())), "message": str(error.get("msg", "Invalid value"))}
        for error in exc.errors()
    ]
    summary = "; ".join(f"{field['path']}: {field['message']}" for field in fields[:5])
    return error_response(request, 422, "invalid_input", f"Check these fields: {summary}", fields=fields)


async def http_error(request: Request, exc: Exception) -> Response:
    """Framework HTTP errors (404 for unknown paths, 405, ...) in the common shape."""
    assert isinstance(exc, StarletteHTTPException)
    code = HTTP_CODES.get(exc.status_code, "error")
    detail = exc.detail if isinstance(exc.detail, str) else code
    if exc.status_code == 404:
        detail = "There is nothing at this address."
    response = error_response(request, exc.status_code, code, detail)
    for key, value in (exc.headers or {}).items():
        response.headers[key] = value
    return response


async def unexpected_error(request: Request, exc: Exception) -> Response:
    """500 with a reference only; log where it happened, never the message (it may hold data)."""
    frames = [
        f"{frame.filename}:{frame.lineno} in {frame.name}"
        for frame in traceback.extract_tb(exc.__traceback__)
    ]
    log.error("unhandled error", extra={"error_type": type(exc).__name__, "frames": frames[-8:]})
    reference = getattr(request.state, "request_id", "unknown")
    return error_response(
        request, 500, "internal_error", f"Something went wrong on our side. Reference: {reference}."
    )


def install_error_handlers(app: FastAPI) -> None:
    """Register every handler on the app."""
    app.add_exception_handler(DomainError, domain_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected_error)
