"""Build or remove the fictional borough of Kestrel Vale.

Every name here is invented. Sizes set how much data later issues generate; the
benchmarks use them.
"""

import enum
import random
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from contexts.access import Role
from contexts.accounts.models import User, WebSession
from contexts.accounts.passwords import hash_password
from contexts.agencies.models import Agency, AgencyKind

BOROUGH = "Kestrel Vale"


class DemoSize(enum.StrEnum):
    """How big a demo borough to build."""

    SMALL = "small"
    MEDIUM = "medium"
    LARGE = "large"


EXTRA_STAFF = {DemoSize.SMALL: 0, DemoSize.MEDIUM: 60, DemoSize.LARGE: 600}
"""Extra practitioners per size, spread over the agencies, beyond the named demo users."""

DEMO_AGENCIES: list[tuple[str, str, AgencyKind]] = [
    ("kv-csc", f"{BOROUGH} Children's Social Care", AgencyKind.CHILDRENS_SOCIAL_CARE),
    ("kv-police", f"{BOROUGH} Police Safeguarding Hub", AgencyKind.POLICE),
    ("kv-health", f"{BOROUGH} Community Health Trust", AgencyKind.HEALTH),
    ("kv-education", f"{BOROUGH} Schools Inclusion Service", AgencyKind.EDUCATION),
    ("kv-youth", f"{BOROUGH} Youth Service", AgencyKind.YOUTH_SERVICE),
    ("kv-charity", "Brightpath Young People's Trust (fictional)", AgencyKind.VOLUNTARY_SECTOR),
    ("kv-csp", f"{BOROUGH} Community Safety Partnership", AgencyKind.COMMUNITY_SAFETY),
    ("kv-licensing", f"{BOROUGH} Licensing Team", AgencyKind.LICENSING),
]

NAMED_USERS: list[tuple[str, str, Role]] = [
    ("demo-practitioner", "Priya Practitioner (demo)", Role.PRACTITIONER),
    ("demo-supervisor", "Sam Supervisor (demo)", Role.SUPERVISOR),
    ("demo-analyst", "Alex Analyst (demo)", Role.ANALYST),
    ("demo-neighbourhood", "Nia Neighbourhood (demo)", Role.NEIGHBOURHOOD),
    ("demo-agency-admin", "Ade Agency-Admin (demo)", Role.AGENCY_ADMIN),
    ("demo-admin", "Morgan System-Admin (demo)", Role.SYSTEM_ADMIN),
]

GIVEN = ["Amani", "Bea", "Cal", "Dev", "Esme", "Finn", "Gita", "Hal", "Isla", "Jude", "Kai", "Lena"]
FAMILY = ["Ashdown", "Birchley", "Coldharbour", "Dunmere", "Eastwick", "Fallow", "Greywell", "Hollins"]


@dataclass(frozen=True, slots=True)
class DemoSummary:
    """What the demo build did."""

    created: bool
    agencies: int
    users: int


def demo_exists(*, session: Session) -> bool:
    """Say whether the demo borough is already loaded."""
    return session.scalar(select(Agency.id).where(Agency.is_demo.is_(True)).limit(1)) is not None


def build_demo(*, session: Session, size: DemoSize, seed: int, password: str) -> DemoSummary:
    """Load the demo borough once: agencies, one user per role in two agencies, extra staff."""
    if demo_exists(session=session):
        return DemoSummary(created=False, agencies=0, users=0)
    rng = random.Random(seed)
    agencies = [Agency(code=code, name=name, kind=kind, is_demo=True) for code, name, kind in DEMO_AGENCIES]
    session.add_all(agencies)
    session.flush()
    password_hash = hash_password(password)
    users = _named_users(agencies[0], agencies[1], password_hash)
    users += _extra_staff(agencies, EXTRA_STAFF[size], rng, password_hash)
    session.add_all(users)
    session.flush()
    return DemoSummary(created=True, agencies=len(agencies), users=len(users))


def _named_users(first: Agency, second: Agency, password_hash: str) -> list[User]:
    """One user of every role in the first agency and again (suffix -2) in the second."""
    users = []
    for agency, suffix in ((first, ""), (second, "-2")):
        for username, display_name, role in NAMED_USERS:
            name = display_name if not suffix else display_name.replace("(demo)", "(demo, second agency)")
            users.append(
                User(
                    username=f"{username}{suffix}",
                    display_name=name,
                    agency_id=agency.id,
                    roles=[role.value],
                    password_hash=password_hash,
                    is_demo=True,
                )
            )
    return users


def _extra_staff(agencies: list[Agency], count: int, rng: random.Random, password_hash: str) -> list[User]:
    """Fictional practitioners spread over the agencies."""
    staff = []
    for number in range(1, count + 1):
        agency = agencies[number % len(agencies)]
        name = f"{rng.choice(GIVEN)} {rng.choice(FAMILY)} (demo)"
        staff.append(
            User(
                username=f"demo-staff-{number:04d}",
                display_name=name,
                agency_id=agency.id,
                roles=[Role.PRACTITIONER.value],
                password_hash=password_hash,
                is_demo=True,
            )
        )
    return staff


def remove_demo_accounts(*, session: Session) -> int:
    """Disable every demo account and end its sessions; the audit trail keeps its history."""
    demo_ids = select(User.id).where(User.is_demo.is_(True))
    session.execute(delete(WebSession).where(WebSession.user_id.in_(demo_ids)))
    result = session.execute(
        update(User).where(User.is_demo.is_(True)).values(is_active=False, password_hash="!disabled")
    )
    return int(getattr(result, "rowcount", 0) or 0)
