"""Concerns and chronologies (names kept stable for partner systems)."""

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Response

from app.api.responses import model_response
from app.db import SessionDep
from app.deps import AccessReason, AreaDep, LanguageRules, OriginDep, PeopleEditor, PeopleViewer, SignedIn
from contexts.concerns.models import ConcernKind, Context
from contexts.concerns.schemas import (
    Chronology,
    ChronologyFilter,
    ConcernCategoryRead,
    ConcernCreate,
    ConcernRead,
    ConcernRevisionRead,
    ConcernUpdate,
)
from contexts.concerns.service import (
    add_concern,
    categories,
    chronology_json,
    concern_history,
    update_concern,
)

router = APIRouter(prefix="/api", tags=["concerns"])


@router.get("/concern-categories", response_model=list[ConcernCategoryRead])
def list_categories(_: SignedIn, session: SessionDep) -> list[ConcernCategoryRead]:
    """The category taxonomy (SAFEGUARD themes, local places of concern, protective factors)."""
    return [ConcernCategoryRead.model_validate(category) for category in categories(session=session)]


@router.post("/young-people/{person_id}/concerns", response_model=ConcernRead, status_code=201)
def create_concern(
    actor: PeopleEditor,
    reason: AccessReason,
    session: SessionDep,
    origin: OriginDep,
    area: AreaDep,
    rules: LanguageRules,
    person_id: int,
    data: ConcernCreate,
) -> Response:
    """Add a concern or protective factor; wording to review comes back in `language_findings`."""
    added = add_concern(
        session=session,
        actor=actor,
        origin=origin,
        reason=reason,
        person_id=person_id,
        data=data,
        area=area,
        rules=rules,
    )
    return model_response(added, status_code=201)


@router.get("/young-people/{person_id}/chronology", response_model=Chronology)
def get_chronology(
    actor: PeopleViewer,
    reason: AccessReason,
    session: SessionDep,
    origin: OriginDep,
    person_id: int,
    date_from: Annotated[date | None, Query(alias="from")] = None,
    date_to: Annotated[date | None, Query(alias="to")] = None,
    context: Annotated[list[Context], Query()] = [],  # noqa: B006 - FastAPI copies defaults
    kind: Annotated[list[ConcernKind], Query()] = [],  # noqa: B006
    category: Annotated[list[str], Query(max_length=40)] = [],  # noqa: B006
    agency: Annotated[list[int], Query()] = [],  # noqa: B006
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    """A young person's chronology, oldest first, filtered by period, context, kind, category, agency."""
    filters = ChronologyFilter(
        date_from=date_from,
        date_to=date_to,
        contexts=context,
        kinds=kind,
        categories=category,
        agency_ids=agency,
    )
    body = chronology_json(
        session=session,
        actor=actor,
        origin=origin,
        reason=reason,
        person_id=person_id,
        filters=filters,
        limit=limit,
        offset=offset,
    )
    return Response(body, media_type="application/json")


@router.patch("/concerns/{concern_id}", response_model=ConcernRead)
def change_concern(
    actor: PeopleEditor,
    reason: AccessReason,
    session: SessionDep,
    origin: OriginDep,
    rules: LanguageRules,
    concern_id: int,
    data: ConcernUpdate,
) -> ConcernRead:
    """Change an entry your agency recorded; send the version you read (409 if stale)."""
    return update_concern(
        session=session,
        actor=actor,
        origin=origin,
        reason=reason,
        concern_id=concern_id,
        data=data,
        rules=rules,
    )


@router.get("/concerns/{concern_id}/history", response_model=list[ConcernRevisionRead])
def history(
    actor: PeopleViewer, reason: AccessReason, session: SessionDep, origin: OriginDep, concern_id: int
) -> list[ConcernRevisionRead]:
    """Who changed what in an entry, and when."""
    return concern_history(session=session, actor=actor, origin=origin, reason=reason, concern_id=concern_id)
