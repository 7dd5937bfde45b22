"""Missing episodes: record and change them, overdue return interviews, and the in-record places map."""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from app.db import SessionDep
from app.deps import AccessReason, AreaDep, LanguageRules, OriginDep, PeopleEditor, PeopleViewer
from contexts.missing.schemas import (
    MissingEpisodeCreate,
    MissingEpisodePage,
    MissingEpisodeRead,
    MissingEpisodeUpdate,
    MissingPlaces,
    OverdueReturnInterviewPage,
)
from contexts.missing.service import (
    create_episode,
    episode_places,
    episodes_of,
    link_concern,
    open_episode,
    overdue_return_interviews_page,
    read_episodes,
    unlink_concern,
    update_episode,
)

router = APIRouter(prefix="/api", tags=["missing episodes"])
REASON: dict[int | str, dict[str, Any]] = {428: {"description": "No reason given: send X-Access-Reason"}}
STALE: dict[int | str, dict[str, Any]] = {409: {"description": "A stale version: reload and try again"}}


@router.post(
    "/young-people/{person_id}/missing-episodes",
    response_model=MissingEpisodeRead,
    status_code=201,
    responses=REASON,
)
def create(
    actor: PeopleEditor,
    reason: AccessReason,
    session: SessionDep,
    origin: OriginDep,
    area: AreaDep,
    rules: LanguageRules,
    person_id: int,
    data: MissingEpisodeCreate,
) -> MissingEpisodeRead:
    """Record a missing episode; wording to review comes back in `language_findings`."""
    episode = create_episode(
        session=session,
        actor=actor,
        origin=origin,
        reason=reason,
        person_id=person_id,
        data=data,
        area=area,
        rules=rules,
    )
    return read_episodes(session=session, actor=actor, episodes=[episode], rules=rules)[0]


@router.get("/young-people/{person_id}/missing-episodes", response_model=MissingEpisodePage, responses=REASON)
def list_episodes(
    actor: PeopleViewer,
    reason: AccessReason,
    session: SessionDep,
    origin: OriginDep,
    rules: LanguageRules,
    person_id: int,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> MissingEpisodePage:
    """A young person's missing episodes, newest first."""
    episodes, total = episodes_of(
        session=session,
        actor=actor,
        origin=origin,
        reason=reason,
        person_id=person_id,
        limit=limit,
        offset=offset,
    )
    return MissingEpisodePage(
        young_person_id=person_id,
        items=read_episodes(session=session, actor=actor, episodes=episodes, rules=rules),
        total=total,
        limit=limit,
        offset=offset,
    )


@router.get("/young-people/{person_id}/missing-places", response_model=MissingPlaces, responses=REASON)
def missing_places(
    actor: PeopleViewer, reason: AccessReason, session: SessionDep, origin: OriginDep, person_id: int
) -> MissingPlaces:
    """GeoJSON (WGS84) of where a young person went missing from and was found, for the in-record map."""
    features = episode_places(session, actor, person_id, origin=origin, reason=reason)
    return MissingPlaces(young_person_id=person_id, features=features)


@router.get("/missing-episodes/overdue-return-interviews", response_model=OverdueReturnInterviewPage)
def overdue(
    actor: PeopleViewer,
    session: SessionDep,
    origin: OriginDep,
    mine: Annotated[bool, Query(description="Only young people you are lead practitioner for")] = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> OverdueReturnInterviewPage:
    """Found young people whose return interview was not offered within 72 hours, most overdue first."""
    items, total = overdue_return_interviews_page(
        session=session, actor=actor, origin=origin, mine=mine, limit=limit, offset=offset
    )
    return OverdueReturnInterviewPage(items=items, total=total, limit=limit, offset=offset)


@router.get("/missing-episodes/{episode_id}", response_model=MissingEpisodeRead, responses=REASON)
def read(
    actor: PeopleViewer,
    reason: AccessReason,
    session: SessionDep,
    origin: OriginDep,
    rules: LanguageRules,
    episode_id: int,
) -> MissingEpisodeRead:
    """Open a missing episode (audited with your reason)."""
    episode = open_episode(session=session, actor=actor, origin=origin, reason=reason, episode_id=episode_id)
    return read_episodes(session=session, actor=actor, episodes=[episode], rules=rules)[0]


@router.patch("/missing-episodes/{episode_id}", response_model=MissingEpisodeRead, responses=REASON | STALE)
def update(
    actor: PeopleEditor,
    reason: AccessReason,
    session: SessionDep,
    origin: OriginDep,
    area: AreaDep,
    rules: LanguageRules,
    episode_id: int,
    data: MissingEpisodeUpdate,
) -> MissingEpisodeRead:
    """Change an episode your agency recorded, such as when and where found; 409 if your version is stale."""
    episode = update_episode(
        session=session,
        actor=actor,
        origin=origin,
        reason=reason,
        episode_id=episode_id,
        data=data,
        area=area,
        rules=rules,
    )
    return read_episodes(session=session, actor=actor, episodes=[episode], rules=rules)[0]


@router.post(
    "/missing-episodes/{episode_id}/concerns/{concern_id}",
    response_model=MissingEpisodeRead,
    status_code=201,
    responses=REASON,
)
def add_concern_link(
    actor: PeopleEditor,
    reason: AccessReason,
    session: SessionDep,
    origin: OriginDep,
    rules: LanguageRules,
    episode_id: int,
    concern_id: int,
) -> MissingEpisodeRead:
    """Link an entry of the young person's chronology to the episode."""
    episode = link_concern(
        session=session,
        actor=actor,
        origin=origin,
        reason=reason,
        episode_id=episode_id,
        concern_id=concern_id,
    )
    return read_episodes(session=session, actor=actor, episodes=[episode], rules=rules)[0]


@router.delete(
    "/missing-episodes/{episode_id}/concerns/{concern_id}",
    status_code=204,
    response_class=Response,
    responses=REASON,
)
def remove_concern_link(
    actor: PeopleEditor,
    reason: AccessReason,
    session: SessionDep,
    origin: OriginDep,
    episode_id: int,
    concern_id: int,
) -> Response:
    """Remove the link between an entry and the episode."""
    unlink_concern(
        session=session,
        actor=actor,
        origin=origin,
        reason=reason,
        episode_id=episode_id,
        concern_id=concern_id,
    )
    return Response(status_code=204)
