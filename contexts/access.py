"""Who may do what and see which records: the single home of csmap's access policy.

Every route declares one `Permission`; every query that returns records owned by an
agency filters them with `visible_to` (or `manageable_by` for user accounts).
Sharing between agencies will widen `visible_agency_ids`, and only there.
"""

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, bindparam, false, or_, true
from sqlalchemy.orm import InstrumentedAttribute

from contexts.errors import AccessDenied


class Role(enum.StrEnum):
    """Roles a user can hold; a user may hold several."""

    PRACTITIONER = "practitioner"
    SUPERVISOR = "supervisor"
    ANALYST = "analyst"
    NEIGHBOURHOOD = "neighbourhood"
    AGENCY_ADMIN = "agency_admin"
    SYSTEM_ADMIN = "system_admin"


ROLE_LABELS: dict[Role, str] = {
    Role.PRACTITIONER: "Practitioner",
    Role.SUPERVISOR: "Supervisor",
    Role.ANALYST: "Analyst",
    Role.NEIGHBOURHOOD: "Neighbourhood team",
    Role.AGENCY_ADMIN: "Agency administrator",
    Role.SYSTEM_ADMIN: "System administrator",
}


class Permission(enum.StrEnum):
    """What a route needs before it runs."""

    PUBLIC = "public"
    SIGNED_IN = "signed_in"
    MANAGE_USERS = "manage_users"
    MANAGE_AGENCIES = "manage_agencies"
    VIEW_AUDIT = "view_audit"
    VIEW_PEOPLE = "view_people"
    EDIT_PEOPLE = "edit_people"
    SIGN_OFF_ASSESSMENTS = "sign_off_assessments"
    VIEW_PLACES = "view_places"
    EDIT_PLACES = "edit_places"
    MANAGE_PLACE_TYPES = "manage_place_types"
    VIEW_HOTSPOTS = "view_hotspots"
    VIEW_ANALYST_HOTSPOTS = "view_analyst_hotspots"


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.PRACTITIONER: frozenset(
        {
            Permission.SIGNED_IN,
            Permission.VIEW_PEOPLE,
            Permission.EDIT_PEOPLE,
            Permission.VIEW_PLACES,
            Permission.VIEW_HOTSPOTS,
        }
    ),
    Role.SUPERVISOR: frozenset(
        {
            Permission.SIGNED_IN,
            Permission.VIEW_PEOPLE,
            Permission.EDIT_PEOPLE,
            Permission.SIGN_OFF_ASSESSMENTS,
            Permission.VIEW_PLACES,
            Permission.VIEW_HOTSPOTS,
        }
    ),
    # Places are the partnership's shared map of contexts: the people who assess and disrupt them
    # keep them; practitioners and supervisors see them to record where things happened.
    # Hotspot maps: everyone who works on contexts sees the disclosure-controlled (partner) map;
    # only analysts see exact counts and z-scores (the analyst audience).
    Role.ANALYST: frozenset(
        {
            Permission.SIGNED_IN,
            Permission.VIEW_PLACES,
            Permission.EDIT_PLACES,
            Permission.VIEW_HOTSPOTS,
            Permission.VIEW_ANALYST_HOTSPOTS,
        }
    ),
    Role.NEIGHBOURHOOD: frozenset(
        {Permission.SIGNED_IN, Permission.VIEW_PLACES, Permission.EDIT_PLACES, Permission.VIEW_HOTSPOTS}
    ),
    Role.AGENCY_ADMIN: frozenset({Permission.SIGNED_IN, Permission.MANAGE_USERS, Permission.VIEW_AUDIT}),
    # The place taxonomy is the partnership's, so only system administrators add to it.
    Role.SYSTEM_ADMIN: frozenset(
        {
            Permission.SIGNED_IN,
            Permission.MANAGE_USERS,
            Permission.MANAGE_AGENCIES,
            Permission.VIEW_AUDIT,
            Permission.MANAGE_PLACE_TYPES,
        }
    ),
}


@dataclass(frozen=True, slots=True)
class Actor:
    """The signed-in person a request acts for."""

    user_id: int
    username: str
    display_name: str
    agency_id: int
    roles: frozenset[Role]

    def has_role(self, role: Role) -> bool:
        """Say whether the actor holds this role."""
        return role in self.roles


def permissions_of(roles: Iterable[Role]) -> frozenset[Permission]:
    """Return every permission the given roles grant."""
    granted: set[Permission] = {Permission.PUBLIC}
    for role in roles:
        granted |= ROLE_PERMISSIONS[role]
    return frozenset(granted)


def can(actor: Actor, permission: Permission) -> bool:
    """Say whether the actor holds the permission."""
    return permission in permissions_of(actor.roles)


def ensure(actor: Actor, permission: Permission) -> None:
    """Raise AccessDenied unless the actor holds the permission."""
    if not can(actor, permission):
        raise AccessDenied("You do not have permission to do that.")


def visible_agency_ids(actor: Actor) -> frozenset[int]:
    """Return the agencies whose records the actor may see (their own, until sharing)."""
    return frozenset({actor.agency_id})


def visible_to(actor: Actor, owner_column: InstrumentedAttribute[int]) -> ColumnElement[bool]:
    """Filter agency-owned records down to those the actor may see."""
    return owner_column.in_(sorted(visible_agency_ids(actor)))


VISIBLE_AGENCIES = "visible_agencies"


def visible_to_anyone_given(owner_column: InstrumentedAttribute[int]) -> ColumnElement[bool]:
    """`visible_to` for a statement built once: its agencies come from `visibility_of(actor)`."""
    return owner_column.in_(bindparam(VISIBLE_AGENCIES, expanding=True))


def visibility_of(actor: Actor) -> dict[str, list[int]]:
    """The parameters a `visible_to_anyone_given` filter needs for this actor."""
    return {VISIBLE_AGENCIES: sorted(visible_agency_ids(actor))}


def manageable_by(actor: Actor, agency_column: InstrumentedAttribute[int]) -> ColumnElement[bool]:
    """Filter user accounts down to those the actor may administer."""
    if actor.has_role(Role.SYSTEM_ADMIN):
        return true()
    if actor.has_role(Role.AGENCY_ADMIN):
        return agency_column == actor.agency_id
    return false()


def may_manage_agency(actor: Actor, agency_id: int) -> bool:
    """Say whether the actor may administer users of this agency."""
    if actor.has_role(Role.SYSTEM_ADMIN):
        return True
    return actor.has_role(Role.AGENCY_ADMIN) and actor.agency_id == agency_id


def may_grant(actor: Actor, roles: Iterable[Role]) -> bool:
    """Say whether the actor may give these roles (only system admins make system admins)."""
    return Role.SYSTEM_ADMIN not in set(roles) or actor.has_role(Role.SYSTEM_ADMIN)


def audit_visible_to(actor: Actor, agency_column: InstrumentedAttribute[int | None]) -> ColumnElement[bool]:
    """Filter audit events: system admins see all, agency admins their own agency's."""
    if actor.has_role(Role.SYSTEM_ADMIN):
        return true()
    if actor.has_role(Role.AGENCY_ADMIN):
        return agency_column == actor.agency_id
    return false()


def entry_visible_to(
    actor: Actor,
    agency_column: InstrumentedAttribute[int],
    agency_only: ColumnElement[bool],
) -> ColumnElement[bool]:
    """Entries kept inside their recording agency are seen only by that agency's staff."""
    return or_(~agency_only, agency_column == actor.agency_id)


ACTOR_AGENCY = "actor_agency_id"


def entry_visible_to_anyone_given(
    agency_column: InstrumentedAttribute[int], agency_only: ColumnElement[bool]
) -> ColumnElement[bool]:
    """`entry_visible_to` for a statement built once: the agency comes from `entry_visibility_of`."""
    return or_(~agency_only, agency_column == bindparam(ACTOR_AGENCY))


def entry_visibility_of(actor: Actor) -> dict[str, int]:
    """The parameters an `entry_visible_to_anyone_given` filter needs for this actor."""
    return {ACTOR_AGENCY: actor.agency_id}
