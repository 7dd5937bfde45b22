"""Missing episodes and risk assessments for part of the demo borough's young people.

Written with the ORM (thousands of rows, not millions). The wording follows the language
rules; a test checks every template.
"""

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from contexts.assessments.models import (
    AssessmentIndicator,
    AssessmentStatus,
    PlanAction,
    ProtectiveFactor,
    RiskAssessment,
    Sign,
)
from contexts.concerns.models import Context
from contexts.demo.generate import Person, PlaceRef
from contexts.missing.models import MissingEpisode

MISSING_FROM = [
    "Her children's home (fictional)",
    "Family home (fictional address)",
    "Foster placement (fictional)",
]
FOUND_WITH = [
    "Two adult men not known to services",
    "A group of older teenagers",
    "Alone, at the bus station",
    "An adult woman who said she was a friend of the family",
]
EPISODE_NOTES = [
    "Police found her in the early hours; she was tired and had a new phone she could not explain.",
    "He said an older male drove him to another town and back. Concerns that he may be criminally exploited.",
    "Returned by taxi at 3am; the fare had been paid by someone she would not name.",
    "Found safe and well. Carer reports money and new clothes after each episode.",
]
INDICATORS = [
    (
        Context.NEIGHBOURHOOD,
        Sign.RISK,
        "Seen at hotels and takeaways with adults not known to services",
        "Sightings reported by the youth service and a hotel manager.",
    ),
    (Context.PEER_GROUP, Sign.RISK, "New older associates", "School reports a change of friendship group."),
    (Context.INDIVIDUAL, Sign.HARM, "Unexplained gifts, money and a second phone", "Found by carer."),
    (Context.HOME, Sign.RISK, "Placement breakdown and frequent moves", "Three placements in a year."),
    (Context.SCHOOL, Sign.RISK, "Falling attendance", "Attendance under 70% this term."),
    (
        Context.NEIGHBOURHOOD,
        Sign.HARM,
        "Picked up in cars by unknown adults",
        "Two police intelligence reports.",
    ),
]
PROTECTIVE = [
    (Context.SCHOOL, "A trusted relationship with the form tutor"),
    (Context.HOME, "An aunt who offers a safe place to stay"),
    (Context.INDIVIDUAL, "Plays football twice a week and wants to keep going"),
]
JUDGEMENTS = [
    "Adults in the neighbourhood may be grooming her; the peer group is how they reach her. "
    "The hotel and the takeaway must change first.",
    "He may be criminally exploited by an organised group. Home is a strength; the neighbourhood "
    "and his new peer group drive the risk now.",
    "There are concerns that she is being sexually exploited by adults she meets through older "
    "friends. School is a protective context to build on.",
]
ACTIONS = [
    (Context.NEIGHBOURHOOD, "Licensing team", "Visit the hotel and brief staff on signs of exploitation"),
    (Context.PEER_GROUP, "Youth service", "Detached youth work where the group meets"),
    (Context.SCHOOL, "Designated safeguarding lead", "Agree a trusted adult and a daily check-in"),
    (Context.HOME, "Social worker", "Safety plan with the carers for evenings and weekends"),
]
WEIGHTS = [
    (10, 10, 30, 0, 50),
    (20, 0, 40, 10, 30),
    (15, 15, 20, 10, 40),
]


@dataclass(frozen=True, slots=True)
class Casework:
    """How many of each to make, and who writes and signs them in each agency."""

    episodes: int
    assessments: int
    authors: dict[int, int]
    signers: dict[int, int]


def add_casework(
    session: Session,
    rng: random.Random,
    people: list[Person],
    places: list[PlaceRef],
    plan: Casework,
    anchor: datetime,
) -> tuple[int, int]:
    """Add missing episodes and assessments for a spread of young people; return how many of each."""
    chosen = rng.sample(people, min(len(people), max(plan.episodes, plan.assessments)))
    for person in chosen[: plan.episodes]:
        session.add(_episode(rng, person, places, plan, anchor))
    for number, person in enumerate(chosen[: plan.assessments]):
        session.add(_assessment(rng, person, plan, anchor, signed=number % 4 != 0))
    session.flush()
    return min(len(chosen), plan.episodes), min(len(chosen), plan.assessments)


def _episode(
    rng: random.Random, person: Person, places: list[PlaceRef], plan: Casework, anchor: datetime
) -> MissingEpisode:
    """One missing episode: most found within two days, a few with the return interview overdue."""
    since = anchor - timedelta(days=rng.randint(1, 300), hours=rng.randint(0, 23))
    found: datetime | None = since + timedelta(hours=rng.randint(3, 60))
    found_place = rng.choice(places) if places else None
    assert found is not None
    offered = found + timedelta(hours=rng.randint(4, 70)) if rng.random() < 0.85 else None
    if found > anchor:
        found, offered = None, None  # still missing (rare)
    elif offered is not None and offered > anchor:
        offered = None
    return MissingEpisode(
        young_person_id=person.id,
        agency_id=person.agency_id,
        recorded_by_id=plan.authors[person.agency_id],
        missing_from_address=rng.choice(MISSING_FROM),
        missing_since=since,
        reported_at=since + timedelta(hours=rng.randint(1, 6)),
        found_at=found,
        found_place_id=found_place.id if found and found_place else None,
        found_with=rng.choice(FOUND_WITH) if found else None,
        return_interview_offered_at=offered,
        notes=rng.choice(EPISODE_NOTES),
    )


def _assessment(
    rng: random.Random, person: Person, plan: Casework, anchor: datetime, *, signed: bool
) -> RiskAssessment:
    """One assessment with evidence, weighting, judgement and plan; most signed off."""
    created = anchor - timedelta(days=rng.randint(5, 120))
    weights = rng.choice(WEIGHTS)
    assessment = RiskAssessment(
        young_person_id=person.id,
        agency_id=person.agency_id,
        author_id=plan.authors[person.agency_id],
        status=AssessmentStatus.SIGNED_OFF if signed else AssessmentStatus.SUBMITTED,
        weight_individual=weights[0],
        weight_home=weights[1],
        weight_peer_group=weights[2],
        weight_school=weights[3],
        weight_neighbourhood=weights[4],
        judgement=rng.choice(JUDGEMENTS),
        local_category=rng.choice(["at risk", "significant risk", "serious risk", None]),
        review_date=(created + timedelta(days=rng.randint(30, 90))).date(),
        submitted_at=created,
        signed_off_by_id=plan.signers[person.agency_id] if signed else None,
        signed_off_at=created + timedelta(days=2) if signed else None,
        created_at=created,
    )
    assessment.indicators = [
        AssessmentIndicator(position=i, context=c, sign=s, indicator=text, evidence=evidence)
        for i, (c, s, text, evidence) in enumerate(rng.sample(INDICATORS, 3))
    ]
    assessment.protective_factors = [
        ProtectiveFactor(position=i, context=c, description=text)
        for i, (c, text) in enumerate(rng.sample(PROTECTIVE, 2))
    ]
    assessment.actions = [
        PlanAction(
            position=i, context=c, who=who, what=what, due_date=(anchor + timedelta(days=14 * (i + 1))).date()
        )
        for i, (c, who, what) in enumerate(rng.sample(ACTIONS, 2))
    ]
    return assessment


def all_texts() -> list[str]:
    """Every sentence the casework can write, for the language test."""
    return [
        *MISSING_FROM,
        *FOUND_WITH,
        *EPISODE_NOTES,
        *JUDGEMENTS,
        *(text for _, _, text, _ in INDICATORS),
        *(evidence for _, _, _, evidence in INDICATORS),
        *(text for _, text in PROTECTIVE),
        *(what for _, _, what in ACTIONS),
    ]
