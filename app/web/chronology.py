"""Lay out the chronology grid: time across, one lane per context, a mark per entry."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from markupsafe import Markup

from contexts.concerns.models import CONTEXT_LABELS, ConcernKind, Context
from contexts.concerns.schemas import ChronologyEntry

WIDTH = 1000
LEFT = 130
RIGHT = 20
LANE_HEIGHT = 56
TOP = 30
KIND_LABELS = {
    ConcernKind.RISK: "Sign of risk",
    ConcernKind.HARM: "Sign of harm",
    ConcernKind.PROTECTIVE: "Protective factor",
}


@dataclass(frozen=True, slots=True)
class Mark:
    """One entry drawn on the grid."""

    entry_id: int
    x: float
    y: float
    kind: ConcernKind
    title: str

    @property
    def shape(self) -> Markup:
        """The mark's SVG shape (as people/_mark.html draws it), built from numbers only."""
        return mark_shape(self.kind, self.x, self.y)


def mark_shape(kind: ConcernKind, x: float, y: float) -> Markup:
    """Shape and colour both encode the kind, so the grid reads in greyscale too.

    Built here rather than by a template macro per mark: a 2,000-entry grid calls it 2,000 times.
    """
    if kind == ConcernKind.HARM:
        points = f"{x},{y - 7} {x + 7},{y + 6} {x - 7},{y + 6}"
        return Markup(f'<polygon points="{points}" fill="#d4351c" stroke="#0b0c0c" stroke-width="1"/>')
    if kind == ConcernKind.PROTECTIVE:
        return Markup(
            f'<rect x="{x - 6}" y="{y - 6}" width="12" height="12" fill="#00703c" stroke="#0b0c0c" '
            'stroke-width="1"/>'
        )
    return Markup(f'<circle cx="{x}" cy="{y}" r="6" fill="#f47738" stroke="#0b0c0c" stroke-width="1"/>')


@dataclass(frozen=True, slots=True)
class Tick:
    """A labelled month on the time axis."""

    x: float
    label: str


@dataclass(frozen=True, slots=True)
class Lane:
    """One context's band."""

    y: float
    label: str


@dataclass(frozen=True, slots=True)
class Grid:
    """Everything the template needs to draw the grid."""

    width: int
    height: int
    left: int
    lanes: list[Lane]
    ticks: list[Tick]
    marks: list[Mark]
    start: date
    end: date


def _month_starts(start: datetime, end: datetime) -> list[datetime]:
    """The first day of each month from start to end."""
    current = start.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    months = []
    while current <= end:
        if current >= start:
            months.append(current)
        current = (current + timedelta(days=32)).replace(day=1)
    return months


def _thin(ticks: list[Tick], most: int = 12) -> list[Tick]:
    """Keep at most `most` evenly spaced ticks so labels never overlap."""
    step = max(1, -(-len(ticks) // most))
    return ticks[::step]


def layout(entries: list[ChronologyEntry], today: datetime | None = None) -> Grid:
    """Place every entry in its context's lane at its time; stagger entries that collide."""
    now = today or datetime.now(UTC)
    times = [entry.occurred_at for entry in entries] or [now - timedelta(days=90), now]
    start = min(times) - timedelta(days=3)
    end = max(max(times), start + timedelta(days=30)) + timedelta(days=3)
    span = (end - start).total_seconds()
    usable = WIDTH - LEFT - RIGHT
    lanes = {context: TOP + index * LANE_HEIGHT for index, context in enumerate(Context)}

    def x_of(moment: datetime) -> float:
        return round(LEFT + usable * (moment - start).total_seconds() / span, 1)

    marks = []
    for index, entry in enumerate(entries):
        offset = ((index % 3) - 1) * 12
        marks.append(
            Mark(
                entry_id=entry.id,
                x=x_of(entry.occurred_at),
                y=lanes[entry.context] + LANE_HEIGHT / 2 + offset,
                kind=entry.kind,
                title=f"{entry.occurred_at:%d %b %Y}: {KIND_LABELS[entry.kind]}, "
                f"{entry.category_label}. {entry.summary}",
            )
        )
    ticks = _thin([Tick(x_of(month), f"{month:%b %Y}") for month in _month_starts(start, end)])
    return Grid(
        width=WIDTH,
        height=TOP + LANE_HEIGHT * len(lanes) + 30,
        left=LEFT,
        lanes=[Lane(y, CONTEXT_LABELS[context]) for context, y in lanes.items()],
        ticks=ticks,
        marks=marks,
        start=start.date(),
        end=end.date(),
    )
