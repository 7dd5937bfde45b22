"""Generate the demo's young people and chronologies as COPY text rows, from one seeded generator each.

Nothing here touches the database: `service.build_demo` reserves ids, then streams these rows into
PostgreSQL with COPY. Times are spread over the two years before the anchor (midnight UTC of the build
day) and cluster into episodes in which concerns escalate from signs of risk to signs of harm, then
ease as protective factors build up.
"""

import math
import random
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TypeVar

from contexts.concerns.models import ConcernKind, Context
from contexts.demo.borough import CENTRES, anywhere, near
from contexts.demo.names import HERITAGES, PREFERRED, STREET_SUFFIXES, STREETS
from contexts.demo.texts import INTELLIGENCE_PREFIX, TEMPLATES, Template
from contexts.young_people.models import Gender

Value = TypeVar("Value")
NULL = "\\N"
HISTORY_DAYS = 730
"""Chronologies reach back two years from the anchor."""

DESIGNATED_LOCAL_ID = "KV-000001"
"""The local id of the designated young person, whose long chronology the benchmarks read."""

DESIGNATED_NAME = ("Rowan", "Ashdown")

AGE_WEIGHTS = {10: 2, 11: 3, 12: 5, 13: 9, 14: 14, 15: 17, 16: 17, 17: 14, 18: 8}
GENDER_WEIGHTS = {
    Gender.FEMALE: 480,
    Gender.MALE: 470,
    Gender.NON_BINARY: 20,
    Gender.SELF_DESCRIBED: 5,
    Gender.NOT_KNOWN: 25,
}
STAGE_KINDS = (
    {ConcernKind.RISK: 70, ConcernKind.HARM: 10, ConcernKind.PROTECTIVE: 20},
    {ConcernKind.RISK: 55, ConcernKind.HARM: 30, ConcernKind.PROTECTIVE: 15},
    {ConcernKind.RISK: 35, ConcernKind.HARM: 40, ConcernKind.PROTECTIVE: 25},
    {ConcernKind.RISK: 45, ConcernKind.HARM: 10, ConcernKind.PROTECTIVE: 45},
)
"""Kinds by stage: early, middle and late in an episode of escalation, then between episodes."""

STAGE_CONTEXTS = (
    {
        Context.INDIVIDUAL: 1.3,
        Context.HOME: 1.3,
        Context.SCHOOL: 1.2,
        Context.PEER_GROUP: 0.8,
        Context.NEIGHBOURHOOD: 0.7,
    },
    {
        Context.INDIVIDUAL: 1.0,
        Context.HOME: 1.0,
        Context.SCHOOL: 1.0,
        Context.PEER_GROUP: 1.0,
        Context.NEIGHBOURHOOD: 1.0,
    },
    {
        Context.INDIVIDUAL: 0.8,
        Context.HOME: 0.8,
        Context.SCHOOL: 0.7,
        Context.PEER_GROUP: 1.3,
        Context.NEIGHBOURHOOD: 1.6,
    },
    {
        Context.INDIVIDUAL: 1.2,
        Context.HOME: 1.2,
        Context.SCHOOL: 1.2,
        Context.PEER_GROUP: 0.9,
        Context.NEIGHBOURHOOD: 0.8,
    },
)
"""How much each context weighs by stage: concerns move out of the home and school into the community."""

HOURS = {
    Context.INDIVIDUAL: range(9, 22),
    Context.HOME: (7, 8, 17, 18, 19, 20, 21, 22, 23),
    Context.PEER_GROUP: range(15, 24),
    Context.SCHOOL: range(8, 16),
    Context.NEIGHBOURHOOD: (16, 17, 18, 19, 20, 21, 22, 22, 23, 23, 0, 0, 1, 1, 2, 3),
}
"""When in the day things are seen, by context."""

RECORDING_AGENCIES = {
    Context.INDIVIDUAL: {"lead": 5, "kv-health": 3, "kv-charity": 2, "kv-youth": 1},
    Context.HOME: {"lead": 7, "kv-police": 2, "kv-health": 1},
    Context.PEER_GROUP: {"lead": 3, "kv-police": 3, "kv-youth": 2, "kv-education": 1},
    Context.SCHOOL: {"lead": 2, "kv-education": 6},
    Context.NEIGHBOURHOOD: {"lead": 2, "kv-police": 5, "kv-youth": 1, "kv-csp": 1, "kv-licensing": 1},
}
"""Which agencies record what (the lead agency is the young person's own); chronologies merge them."""

PRECISIONS = (("exact", 80), ("day", 12), ("month", 4), ("approximate", 4))
SOURCE_EVALUATIONS = (("1", 30), ("2", 60), ("3", 10))
ASSESSMENTS = (("A", 15), ("B", 35), ("C", 35), ("D", 12), ("E", 3))
HANDLING_CODES = (("P", 80), ("C", 20))
HOTSPOTS = 14
"""Points of concern (towpaths, alleys, addresses) that are not recorded places."""


@dataclass(frozen=True, slots=True)
class Agencies:
    """The demo agencies by code, and who in each may record (practitioners and supervisors)."""

    ids: dict[str, int]
    recorders: dict[int, tuple[int, ...]]
    lead_practitioners: dict[int, tuple[int, ...]]
    """Per agency, the user ids who lead cases (the named practitioner first, most often chosen)."""


@dataclass(frozen=True, slots=True)
class PlaceRef:
    """A loaded place: id, type, name and point."""

    id: int
    place_type: str
    name: str
    longitude: float
    latitude: float


@dataclass(slots=True)
class Person:
    """What the chronology generator needs about a young person."""

    id: int
    agency_id: int
    school_place_id: int | None
    first_contact: datetime
    concerns: int


def allocate(rng: random.Random, people: int, total: int, designated: int) -> list[int]:
    """Concerns per young person: the designated first gets `designated`, the rest share `total` unevenly."""
    others = people - 1
    remaining = total - designated - others
    if others <= 0 or remaining < 0:
        return [total][:people]
    weights = [min(rng.lognormvariate(0, 0.9), 6.0) for _ in range(others)]
    scale = remaining / sum(weights)
    shares = [w * scale for w in weights]
    counts = [1 + int(share) for share in shares]
    short = total - designated - sum(counts)
    by_fraction = sorted(range(others), key=lambda i: (int(shares[i]) - shares[i], i))
    for i in by_fraction[:short]:
        counts[i] += 1
    return [designated, *counts]


def nhs_test_number(rng: random.Random) -> str:
    """A valid NHS number from the range reserved for testing (999 000 0000 to 999 999 9999)."""
    while True:
        digits = [9, 9, 9] + [rng.randint(0, 9) for _ in range(6)]
        check = 11 - sum(d * w for d, w in zip(digits, range(10, 1, -1), strict=True)) % 11
        check = 0 if check == 11 else check
        if check != 10:
            return "".join(map(str, digits)) + str(check)


def _text(value: str | None) -> str:
    """A COPY text field (our generated text has no tabs, newlines or backslashes)."""
    return NULL if value is None else value


def _point(longitude: float, latitude: float) -> str:
    """A WGS84 point as EWKT."""
    return f"SRID=4326;POINT({longitude:.6f} {latitude:.6f})"


def _choices(pairs: Sequence[tuple[str, int]]) -> tuple[list[str], list[int]]:
    """Values and cumulative weights for `random.choices`."""
    values, cumulative, running = [], [], 0
    for value, weight in pairs:
        running += weight
        values.append(value)
        cumulative.append(running)
    return values, cumulative


YOUNG_PERSON_COLUMNS = (
    "id, agency_id, lead_practitioner_id, given_name, family_name, preferred_name, date_of_birth, gender, "
    "ethnicity, local_id, nhs_number, police_reference, status, closed_reason, closed_at, home_address, "
    "home_point, school_place_id, looked_after, send, care_leaver, created_by_id, created_at, updated_at"
)


def young_people(
    rng: random.Random,
    *,
    ids: Sequence[int],
    counts: Sequence[int],
    agencies: Agencies,
    schools: Sequence[PlaceRef],
    anchor: datetime,
) -> tuple[list[Person], list[str]]:
    """The young people (the first is the designated one) and their COPY rows."""
    first, second = agencies.ids["kv-csc"], agencies.ids["kv-police"]
    heritage_weights = [h.weight for h in HERITAGES]
    genders, gender_weights = list(GENDER_WEIGHTS), list(GENDER_WEIGHTS.values())
    ages, age_weights = list(AGE_WEIGHTS), list(AGE_WEIGHTS.values())
    school_weights = [rng.uniform(0.5, 2.0) for _ in schools]
    today = anchor.date()
    people: list[Person] = []
    rows: list[str] = []
    for index, (person_id, count) in enumerate(zip(ids, counts, strict=True)):
        designated = index == 0
        agency_id = first if designated or rng.random() < 0.8 else second
        heritage = rng.choices(HERITAGES, weights=heritage_weights)[0]
        gender = Gender.FEMALE if designated else rng.choices(genders, weights=gender_weights)[0]
        if gender is Gender.FEMALE or (gender is not Gender.MALE and rng.random() < 0.5):
            given = rng.choice(heritage.female)
        else:
            given = rng.choice(heritage.male)
        family_pool = heritage.family if rng.random() < 0.9 else rng.choice(HERITAGES).family
        family = rng.choice(family_pool)
        if designated:
            given, family = DESIGNATED_NAME
        preferred = PREFERRED.get(given) if rng.random() < 0.5 else None
        age = 15 if designated else rng.choices(ages, weights=age_weights)[0]
        born = _birthday(today, age, rng.randint(1, 364))
        ethnicity = None
        if rng.random() < 0.85:
            values, weights = zip(*heritage.ethnicities, strict=True)
            ethnicity = rng.choices(values, weights=weights)[0].value
        leads = agencies.lead_practitioners[agency_id]
        lead = leads[0] if designated or rng.random() < 0.3 else rng.choice(leads)
        school = None
        if schools and (designated or rng.random() < (0.85 if age <= 16 else 0.4)):
            school = rng.choices(schools, weights=school_weights)[0].id
        looked_after = designated or rng.random() < 0.12
        care_leaver = age >= 17 and looked_after and rng.random() < 0.5
        closed = not designated and rng.random() < 0.08
        days_ago = HISTORY_DAYS - 1 if designated else 45 + (HISTORY_DAYS - 46) * rng.random() ** 0.7
        first_contact = anchor - timedelta(days=days_ago, minutes=rng.randint(0, 600))
        home = home_point = None
        if rng.random() < 0.7:
            home = f"{rng.randint(1, 240)} {rng.choice(STREETS)} {rng.choice(STREET_SUFFIXES)}, Kestrel Vale"
            if rng.random() < 0.7:
                centre = rng.choice(CENTRES)
                home_point = _point(*near(rng, centre.longitude, centre.latitude, 2.0))
        created = first_contact.isoformat()
        rows.append(
            "\t".join(
                (
                    str(person_id),
                    str(agency_id),
                    str(lead),
                    given,
                    family,
                    _text(preferred),
                    born.isoformat(),
                    gender.value,
                    _text(ethnicity),
                    DESIGNATED_LOCAL_ID if designated else f"KV-{index + 1:06d}",
                    nhs_test_number(rng) if designated or rng.random() < 0.7 else NULL,
                    f"KV/{rng.randint(23, 26)}/{rng.randint(10000, 99999)}" if rng.random() < 0.3 else NULL,
                    "closed" if closed else "open",
                    "Support plan completed; no current concerns." if closed else NULL,
                    (anchor - timedelta(days=rng.uniform(1, 40))).isoformat() if closed else NULL,
                    _text(home),
                    _text(home_point),
                    NULL if school is None else str(school),
                    "t" if looked_after else "f",
                    "t" if designated or rng.random() < 0.16 else "f",
                    "t" if care_leaver else "f",
                    str(leads[0]),
                    created,
                    created,
                )
            )
        )
        people.append(Person(person_id, agency_id, school, first_contact, count))
    return people, rows


def _birthday(today: date, age: int, days_before_birthday: int) -> date:
    """A date of birth that makes the young person `age` today."""
    try:
        last_birthday = today.replace(year=today.year - age)
    except ValueError:  # 29 February
        last_birthday = today.replace(year=today.year - age, day=28)
    return last_birthday - timedelta(days=days_before_birthday)


CONCERN_COLUMNS = (
    "young_person_id, agency_id, recorded_by_id, occurred_at, occurred_precision, context, kind, "
    "category_id, summary, detail, place_id, point, source_evaluation, intelligence_assessment, "
    "handling_code, sensitivity, created_at, updated_at"
)


class Chronologies:
    """Writes chronologies: templates, places and agencies are prepared once, then each person is fast."""

    def __init__(
        self,
        rng: random.Random,
        *,
        agencies: Agencies,
        categories: dict[str, int],
        places: Sequence[PlaceRef],
        anchor: datetime,
    ) -> None:
        self.rng = rng
        self.anchor = anchor
        self.agencies = agencies
        self.categories = categories
        self.police = agencies.ids.get("kv-police")
        self.health = agencies.ids.get("kv-health")
        heat = {place.id: rng.lognormvariate(0, 1.0) for place in places}
        self.places_for: dict[Template, tuple[list[PlaceRef], list[float]]] = {}
        for template in TEMPLATES:
            fitting = [place for place in places if place.place_type in template.places]
            self.places_for[template] = (fitting, list(_cumulative(heat[place.id] for place in fitting)))
        self.places_by_id = {place.id: place for place in places}
        self.hotspots = [anywhere(rng) if i % 3 == 0 else _central(rng) for i in range(HOTSPOTS)]
        self.hotspot_weights = list(_cumulative(rng.lognormvariate(0, 0.8) for _ in range(HOTSPOTS)))
        self.by_stage: list[dict[ConcernKind, tuple[list[Template], list[float]]]] = []
        for stage, context_weights in enumerate(STAGE_CONTEXTS):
            kinds: dict[ConcernKind, tuple[list[Template], list[float]]] = {}
            for kind in STAGE_KINDS[stage]:
                fitting_templates = [t for t in TEMPLATES if t.kind is kind]
                template_weights = (
                    t.weight * sum(context_weights[c] for c in t.contexts) / len(t.contexts)
                    for t in fitting_templates
                )
                kinds[kind] = (fitting_templates, list(_cumulative(template_weights)))
            self.by_stage.append(kinds)
        self.stage_kinds = [(list(shares), list(_cumulative(shares.values()))) for shares in STAGE_KINDS]
        self.recording: dict[tuple[int, Context], tuple[list[int], list[float]]] = {}
        for lead in {agencies.ids["kv-csc"], agencies.ids["kv-police"]}:
            for context, shares in RECORDING_AGENCIES.items():
                ids = [lead if code == "lead" else agencies.ids[code] for code in shares]
                usable = [
                    (i, w) for i, w in zip(ids, shares.values(), strict=True) if agencies.recorders.get(i)
                ]
                self.recording[(lead, context)] = (
                    [i for i, _ in usable],
                    list(_cumulative(w for _, w in usable)),
                )
        self.precisions = _choices(PRECISIONS)
        self.source_evaluations = _choices(SOURCE_EVALUATIONS)
        self.assessments = _choices(ASSESSMENTS)
        self.handling_codes = _choices(HANDLING_CODES)
        self.texts: dict[tuple[str, int | None, bool], tuple[str, str]] = {}

    def rows(self, person: Person) -> list[str]:
        """One young person's chronology as COPY rows, in no particular order."""
        rng = self.rng
        span = max((self.anchor - person.first_contact).total_seconds() / 86400, 1.0)
        episodes = []
        for _ in range(1 + min(person.concerns // 10, 3 + person.concerns // 250)):
            length = rng.uniform(14, 60)
            episodes.append((rng.uniform(0, max(span - length, 0.0)), min(length, span)))
        rows = []
        for _ in range(person.concerns):
            if rng.random() < 0.7:
                start, length = rng.choice(episodes)
                position = math.sqrt(rng.random())
                day = start + position * length
                stage = 0 if position < 0.4 else 1 if position < 0.8 else 2
            else:
                day = rng.random() * span
                stage = 3
            rows.append(self._row(person, person.first_contact + timedelta(days=day), stage))
        return rows

    def _row(self, person: Person, moment: datetime, stage: int) -> str:
        """One entry in the chronology."""
        rng = self.rng
        kinds, kind_weights = self.stage_kinds[stage]
        kind = _pick(rng, kinds, kind_weights)
        templates, template_weights = self.by_stage[stage][kind]
        template = _pick(rng, templates, template_weights)
        context = rng.choice(template.contexts)
        agencies, agency_weights = self.recording[(person.agency_id, context)]
        agency_id = _pick(rng, agencies, agency_weights)
        recorder = rng.choice(self.agencies.recorders[agency_id])
        place_id: int | None = None
        point = NULL
        if template.places:
            if "school" in template.places and person.school_place_id is not None:
                place_id = person.school_place_id
            else:
                fitting, weights = self.places_for[template]
                place_id = _pick(rng, fitting, weights).id
        elif template.located or (context is Context.NEIGHBOURHOOD and rng.random() < 0.5):
            longitude, latitude = _pick(rng, self.hotspots, self.hotspot_weights)
            point = _point(*near(rng, longitude, latitude, 0.25))
        graded = template.intelligence and agency_id == self.police and rng.random() < 0.7
        summary, detail = self._words(template, place_id, graded)
        occurred, precision = self._when(moment, context)
        lag = min(rng.lognormvariate(3.0, 1.2), 24 * 30)
        if precision in ("month", "approximate"):
            lag += rng.uniform(24, 24 * 60)
        recorded = min(occurred + timedelta(hours=lag), self.anchor).isoformat()
        sensitive = rng.random() < (0.04 if agency_id in (self.police, self.health) else 0.01)
        return "\t".join(
            (
                str(person.id),
                str(agency_id),
                str(recorder),
                occurred.isoformat(),
                precision,
                context,
                kind,
                str(self.categories[template.category]),
                summary,
                detail,
                NULL if place_id is None else str(place_id),
                point,
                _pick(rng, *self.source_evaluations) if graded else NULL,
                _pick(rng, *self.assessments) if graded else NULL,
                _pick(rng, *self.handling_codes) if graded else NULL,
                "agency_only" if sensitive else "partnership",
                recorded,
                recorded,
            )
        )

    def _words(self, template: Template, place_id: int | None, graded: bool) -> tuple[str, str]:
        """The summary and detail, with the place named (cached: the same words recur)."""
        key = (template.summary, place_id, graded)
        found = self.texts.get(key)
        if found is None:
            name = self.places_by_id[place_id].name if place_id is not None else ""
            summary = template.summary.replace("{place}", name)
            detail = template.detail.replace("{place}", name)
            found = (summary, INTELLIGENCE_PREFIX + detail if graded else detail)
            self.texts[key] = found
        return found

    def _when(self, moment: datetime, context: Context) -> tuple[datetime, str]:
        """The time of day that fits the context, and how exactly it is known; never after the anchor."""
        rng = self.rng
        precision = _pick(rng, *self.precisions)
        day = moment.date()
        if precision == "month":
            occurred = datetime.combine(day.replace(day=1), time(), UTC)
        elif precision == "day":
            occurred = datetime.combine(day, time(), UTC)
        else:
            occurred = datetime.combine(day, time(rng.choice(HOURS[context]), rng.randrange(60)), UTC)
        if occurred >= self.anchor:
            occurred -= timedelta(days=1)
        return occurred, precision


def _pick(rng: random.Random, values: Sequence[Value], cumulative: Sequence[float]) -> Value:
    """One value, chosen with the given cumulative weights (as `random.choices`, one draw)."""
    return values[bisect_right(cumulative, rng.random() * cumulative[-1], 0, len(values) - 1)]


def _cumulative(weights: Iterable[float]) -> Iterator[float]:
    """Running totals."""
    running = 0.0
    for weight in weights:
        running += weight
        yield running


def _central(rng: random.Random) -> tuple[float, float]:
    """A point near a centre."""
    centre = rng.choice(CENTRES)
    return near(rng, centre.longitude, centre.latitude, centre.spread_km)
