"""Liveness and readiness."""

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app.deps import Public

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz(_: Public) -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get("/readyz", response_model=None)
def readyz(request: Request, _: Public) -> dict[str, str] | JSONResponse:
    """The database answers; 503 while it does not (the pool reconnects by itself)."""
    try:
        with request.app.state.session_factory() as session:
            session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        return JSONResponse(
            {"error": "service_unavailable", "detail": "The database is not reachable."}, status_code=503
        )
    return {"status": "ready"}
