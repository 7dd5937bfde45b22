"""Place pages: the list with a map and filters, one place with a small map, and add/change forms where
the place is drawn on a map (or given as a longitude and latitude)."""

import json
import math
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from app.db import SessionDep
from app.deps import AccessReason, AreaDep, OriginDep, PeopleViewer, SettingsDep, require
from app.templating import render
from app.web.forms import error_list, first_errors
from contexts.access import Actor, Permission
from contexts.audit.models import AuditAction
from contexts.audit.service import record_event
from contexts.errors import Conflict, InvalidInput
from contexts.young_people.service import Area
from mapping.places.profile import PlaceProfile, linked_young_people, place_profile
from mapping.places.schemas import PlaceCreate, PlaceFilter, PlaceRead, PlaceUpdate
from mapping.places.service import (
    archive_place,
    create_place,
    icons_of,
    list_places,
    place_types,
    read_place,
    update_place,
)
from mapping.render import MapFragments, drawing_map, places_map

router = APIRouter(include_in_schema=False)
PlaceViewer = Annotated[Actor, require(Permission.VIEW_PLACES)]
PlaceEditor = Annotated[Actor, require(Permission.EDIT_PLACES)]
PAGE_SIZE = 50
TEXT_FIELDS = (
    "name",
    "type",
    "geometry",
    "longitude",
    "latitude",
    "address",
    "postcode",
    "owner_name",
    "owner_contact",
    "licence_refs",
    "external_ref",
)
FIELD_ORDER = (*TEXT_FIELDS, "form")
ANCHORS = {"geometry": "longitude", "form": "place-form"}
SHAPES = {
    "Point": "Point",
    "MultiPoint": "Points",
    "LineString": "Line",
    "MultiLineString": "Lines",
    "Polygon": "Area",
    "MultiPolygon": "Areas",
}


def type_options(session: Session) -> list[dict[str, str]]:
    """The active place types for selects, by label."""
    return [{"value": entry.code, "text": entry.label} for entry in place_types(session=session)]


def shape_words(geometry: dict[str, Any]) -> str:
    """A geometry in words: 'Point at -1.500000, 52.400000', 'Line', 'Area'."""
    kind = str(geometry.get("type"))
    if kind == "Point":
        longitude, latitude = geometry["coordinates"][:2]
        return f"Point at longitude {longitude:.6f}, latitude {latitude:.6f}"
    return SHAPES.get(kind, kind)


def feature_of(place: PlaceRead, icons: dict[str, str]) -> dict[str, Any]:
    """A place as a map feature carrying only what the map shows."""
    return {
        "type": "Feature",
        "geometry": place.geometry,
        "properties": {
            "id": place.id,
            "name": place.name,
            "type_label": place.type_label,
            "icon": icons.get(place.type, ""),
        },
    }


def map_of(session: Session, places: list[PlaceRead], area: Area, label: str) -> MapFragments | None:
    """A map of the given places, or None when there are none."""
    if not places:
        return None
    icons = icons_of(session, {place.type for place in places})
    return places_map([feature_of(place, icons) for place in places], area=area, label=label)


@router.get("/places")
def places_list(
    request: Request,
    actor: PlaceViewer,
    session: SessionDep,
    area: AreaDep,
    type: Annotated[str, Query(max_length=40)] = "",
    q: Annotated[str, Query(max_length=100)] = "",
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> Response:
    """Places by name, filtered by type and part of the name, with a map and a table of the same places."""
    filters = PlaceFilter(types=[type] if type else [], search=q or None)
    places, total = list_places(
        session=session, actor=actor, filters=filters, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
    )
    pages = max(1, math.ceil(total / PAGE_SIZE))
    return render(
        request,
        "places/list.html",
        {
            "active_nav": "places",
            "places": places,
            "total": total,
            "page": page,
            "pages": pages,
            "type": type,
            "q": q,
            "types": type_options(session),
            "map": map_of(session, places, area, "Map of the places listed in the table"),
            "shape_words": shape_words,
        },
    )


def _blank() -> dict[str, str]:
    """An empty form."""
    return dict.fromkeys(TEXT_FIELDS, "")


def _values_of(place: PlaceRead) -> dict[str, Any]:
    """A saved place as the form shows it."""
    point = place.geometry["coordinates"] if place.geometry.get("type") == "Point" else None
    return {
        "name": place.name,
        "type": place.type,
        "geometry": json.dumps(place.geometry),
        "longitude": f"{point[0]:.6f}" if point else "",
        "latitude": f"{point[1]:.6f}" if point else "",
        "address": place.address or "",
        "postcode": place.postcode or "",
        "owner_name": place.owner_name or "",
        "owner_contact": place.owner_contact or "",
        "licence_refs": "\n".join(place.licence_refs),
        "external_ref": place.external_ref or "",
        "version": place.version,
    }


@dataclass(frozen=True, slots=True)
class PostedPlace:
    """What the place form sent."""

    fields: dict[str, str]
    repair: bool
    version: int


async def posted_place(request: Request) -> PostedPlace:
    """Read the place form once, for both the add and the change handlers."""
    form = await request.form()

    def text(name: str) -> str:
        value = form.get(name)
        return value if isinstance(value, str) else ""

    version = text("version")
    return PostedPlace(
        fields={name: text(name) for name in TEXT_FIELDS},
        repair=text("repair") == "yes",
        version=int(version) if version.isdigit() else 0,
    )


Posted = Annotated[PostedPlace, Depends(posted_place)]


def _number(text: str, words: str, low: float, high: float) -> float:
    """A coordinate typed in a box; ValueError with advice if it is not one."""
    try:
        value = float(text.strip())
    except ValueError as wrong:
        raise ValueError(
            f"Enter the {words} as a number, for example {'-1.512345' if low < -90 else '52.412345'}"
        ) from wrong
    if not (low <= value <= high and math.isfinite(value)):
        raise ValueError(f"The {words} must be between {low:g} and {high:g}")
    return value


def geometry_from_form(fields: dict[str, str]) -> dict[str, Any]:
    """The geometry from the longitude and latitude boxes when given, else from the drawing."""
    longitude, latitude = fields["longitude"].strip(), fields["latitude"].strip()
    if longitude or latitude:
        if not (longitude and latitude):
            raise ValueError("Enter both the longitude and the latitude, or draw the place on the map")
        x = _number(longitude, "longitude", -180, 180)
        y = _number(latitude, "latitude", -90, 90)
        return {"type": "Point", "coordinates": [x, y]}
    drawn = fields["geometry"].strip()
    if not drawn:
        raise ValueError("Draw the place on the map, or enter its longitude and latitude")
    try:
        geometry = json.loads(drawn)
    except json.JSONDecodeError as wrong:
        raise ValueError("The drawing could not be read: draw the place again") from wrong
    if not isinstance(geometry, dict):
        raise ValueError("The drawing could not be read: draw the place again")
    return geometry


def data_from_form(fields: dict[str, str]) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """The place's fields from the form, or the problems by field."""
    errors: dict[str, str] = {}
    try:
        geometry = geometry_from_form(fields)
    except ValueError as problem:
        errors["geometry"] = str(problem)
        geometry = None
    data: dict[str, Any] = {
        name: fields[name] for name in ("name", "type", "address", "postcode", "owner_name", "owner_contact")
    }
    data["external_ref"] = fields["external_ref"]
    data["licence_refs"] = fields["licence_refs"].replace(",", "\n").splitlines()
    data["geometry"] = geometry
    if not fields["name"].strip():
        errors["name"] = "Enter the place's name"
    if not fields["type"].strip():
        errors["type"] = "Select the type of place"
    try:
        PlaceCreate.model_validate({**data, "geometry": geometry or {"type": "Point", "coordinates": [0, 0]}})
    except ValidationError as invalid:
        for field, message in first_errors(list(invalid.errors())).items():  # type: ignore[arg-type]
            errors.setdefault(field, message)
    return (None if errors else data), errors


def _render_form(
    request: Request,
    session: Session,
    area: Area,
    *,
    values: dict[str, Any],
    field_errors: dict[str, str],
    place: PlaceRead | None = None,
    status_code: int = 200,
) -> Response:
    """The add-or-change form with what was typed and any errors."""
    invalid_shape = "not valid" in field_errors.get("geometry", "")
    return render(
        request,
        "places/form.html",
        {
            "active_nav": "places",
            "values": values,
            "types": type_options(session),
            "field_errors": field_errors,
            "errors": error_list(field_errors, FIELD_ORDER, ANCHORS),
            "place": place,
            "offer_repair": invalid_shape,
            "map": drawing_map(
                area=area,
                label="Map to draw the place on: a marker, a line or an area",
                geometry_input="geometry",
            ),
        },
        status_code=status_code,
    )


def _problem_field(problem: InvalidInput | Conflict) -> str:
    """Which form field a service error belongs to."""
    field = getattr(problem, "field", None) or ("external_ref" if isinstance(problem, Conflict) else "form")
    return field if field in FIELD_ORDER else "form"


@router.get("/places/new")
def new_place_form(request: Request, _: PlaceEditor, session: SessionDep, area: AreaDep) -> Response:
    """The form to add a place by drawing it."""
    return _render_form(request, session, area, values=_blank(), field_errors={})


@router.post("/places/new")
def new_place_submit(
    request: Request,
    actor: PlaceEditor,
    session: SessionDep,
    origin: OriginDep,
    area: AreaDep,
    posted: Posted,
) -> Response:
    """Add the place; on any problem nothing is saved and the form says what to correct."""
    data, errors = data_from_form(posted.fields)
    if data is None:
        return _render_form(
            request, session, area, values=posted.fields, field_errors=errors, status_code=422
        )
    try:
        with session.begin_nested():
            place = create_place(
                session=session,
                actor=actor,
                origin=origin,
                data=PlaceCreate.model_validate(data),
                area=area,
                repair=posted.repair,
            )
    except (InvalidInput, Conflict) as problem:
        errors = {_problem_field(problem): problem.detail}
        return _render_form(
            request, session, area, values=posted.fields, field_errors=errors, status_code=422
        )
    return RedirectResponse(f"/places/{place.id}?saved=added", status_code=303)


@router.get("/places/{place_id}")
def place_page(
    request: Request,
    actor: PlaceViewer,
    session: SessionDep,
    settings: SettingsDep,
    area: AreaDep,
    place_id: int,
) -> Response:
    """One place: its details and a small map."""
    place = read_place(session=session, actor=actor, place_id=place_id)
    policy = settings.disclosure_policy()
    profile = place_profile(
        session=session, actor=actor, place_id=place_id, policy=policy, rule=settings.link_rule()
    )
    return render(
        request,
        "places/view.html",
        {
            "active_nav": "places",
            "place": place,
            "shape": shape_words(place.geometry),
            "map": map_of(session, [place], area, f"Map of {place.name}"),
            "profile": profile,
            "chart": month_bars(profile),
            "hidden_label": policy.hidden_label.capitalize(),
        },
    )


@router.get("/places/{place_id}/young-people")
def linked_young_people_page(
    request: Request,
    actor: PeopleViewer,
    reason: AccessReason,
    session: SessionDep,
    settings: SettingsDep,
    origin: OriginDep,
    place_id: int,
) -> Response:
    """Your agency's young people linked to the place recently: opening the list is audited."""
    place = read_place(session=session, actor=actor, place_id=place_id)
    rule = settings.link_rule()
    people = linked_young_people(session=session, actor=actor, place_id=place_id, rule=rule)
    record_event(
        session=session,
        action=AuditAction.VIEW,
        actor=actor,
        origin=origin,
        object_type="place_young_people",
        object_id=place_id,
        reason=reason,
    )
    return render(
        request,
        "places/young_people.html",
        {"active_nav": "places", "place": place, "people": people, "rule": rule},
    )


@router.get("/places/{place_id}/edit")
def edit_place_form(
    request: Request, actor: PlaceEditor, session: SessionDep, area: AreaDep, place_id: int
) -> Response:
    """The form to change a place, its shape drawn ready to edit."""
    place = read_place(session=session, actor=actor, place_id=place_id)
    if place.archived_at is not None:
        raise Conflict("This place is archived: it can no longer be changed.")
    return _render_form(request, session, area, values=_values_of(place), field_errors={}, place=place)


@router.post("/places/{place_id}/edit")
def edit_place_submit(
    request: Request,
    actor: PlaceEditor,
    session: SessionDep,
    origin: OriginDep,
    area: AreaDep,
    place_id: int,
    posted: Posted,
) -> Response:
    """Save the changes; a stale version keeps what was typed and says so."""
    current = read_place(session=session, actor=actor, place_id=place_id)
    values: dict[str, Any] = {**posted.fields, "version": posted.version}

    def again(errors: dict[str, str], status: int) -> Response:
        return _render_form(
            request, session, area, values=values, field_errors=errors, place=current, status_code=status
        )

    if posted.version != current.version:
        values["version"] = current.version
        return again(
            {
                "form": "Someone changed this place since you opened it, so your changes are not saved yet. "
                "Check the saved place, then save again to replace it with what is below."
            },
            409,
        )
    data, errors = data_from_form(posted.fields)
    if data is None:
        return again(errors, 422)
    try:
        with session.begin_nested():
            update_place(
                session=session,
                actor=actor,
                origin=origin,
                place_id=place_id,
                data=PlaceUpdate.model_validate({**data, "version": posted.version}),
                area=area,
                repair=posted.repair,
            )
    except (InvalidInput, Conflict) as problem:
        return again({_problem_field(problem): problem.detail}, 409 if problem.code == "conflict" else 422)
    return RedirectResponse(f"/places/{place_id}?saved=changed", status_code=303)


@router.post("/places/{place_id}/archive")
def archive_place_submit(
    actor: PlaceEditor, session: SessionDep, origin: OriginDep, place_id: int
) -> Response:
    """Archive the place and go back to the list."""
    archive_place(session=session, actor=actor, origin=origin, place_id=place_id)
    return RedirectResponse(f"/places?archived={place_id}", status_code=303)


@dataclass(frozen=True, slots=True)
class Bar:
    """One month's bar in the place's chart (height 0 for a hidden count)."""

    x: int
    height: float
    label: str
    value: str


def month_bars(profile: PlaceProfile, width: int = 600, height: int = 120) -> list[Bar]:
    """Bars for the monthly counts, scaled to the tallest shown month."""
    shown = [month.count or 0 for month in profile.months]
    tallest = max(shown) or 1
    step = width // max(1, len(shown))
    return [
        Bar(
            x=index * step,
            height=round(height * (count / tallest), 1),
            label=f"{month.month:%b %y}",
            value="hidden" if month.count is None else str(month.count),
        )
        for index, (month, count) in enumerate(zip(profile.months, shown, strict=True))
    ]
