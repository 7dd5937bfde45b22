"""Disclosure control: the single gate every aggregate for the partner audience passes through.

Partners (neighbourhood teams, other agencies, CSV/Excel/GeoJSON exports, OGC API items) see
aggregates only: counts for grid cells, small areas, place types and months, never a point, an
address, a person or free text. Other code aggregates; this module decides what may be shown.

Publication rule, for a policy with threshold k and rounding base r. A true count n becomes
``P(n)``:

* ``None`` ("fewer than k") when 0 <= n < k. Zero is hidden exactly like 1..k-1: were it shown,
  a view shown as "fewer than k" beside a view of a subset of its records shown as 0 would say
  that the records between them number 1..k-1.
* otherwise n rounded to the nearest multiple of r, halves rounding up.

Derived values never look at n again: a rate per 1,000 is computed from ``P(n)`` (and hidden
with it), and a total is the sum of the published parts, with the hidden parts counted and left
out, so that a total cannot be subtracted from its visible parts to recover a hidden one.

Differencing guarantee. Let A and B be partner views of the same cell, area or place where B's
records are a subset of A's: B drops a filter value, or a month at either end of A's window, or
B is month m beside the slider window m..m+1 (any nesting will do). Let a >= b be their true
counts. An adversary who knows ``P(a)``, ``P(b)``, the policy and that B is inside A can narrow
the number of records in A but not in B to the set of consistent differences

    D = {a' - b' : P(a') = P(a), P(b') = P(b), a' >= b' >= 0}.

The guarantee is that D is never a subset of {1, ..., k-1}: it contains 0 (perhaps nothing
lies between the views) or a value >= k (perhaps a count large enough to be shown in its own
right). Possibility, not probability, is the criterion: it is what rounding can promise
without noise, and the feasibility interval is how published statistics audit suppression.

When it holds. ``P`` is monotone and maps intervals of counts ("bins") to published values, so
D is an interval of integers. Equal published values give 0 in D. A view shown as "fewer than
k" has 0 in its bin and the other view's bin reaches at least k, so max(D) >= k. For two
different shown values the narrowest D comes from adjacent bins, and max(D) there is either
``top(v2) - k`` for the two lowest shown values v1 < v2 (the bin of v1 starts at k, not at a
rounding boundary) or ``2r - 1`` for any two full bins. So a policy is safe exactly when
``top(v2) >= 2k`` and ``2r - 1 >= k``; any other policy is refused when it is built, with the
two published values that would pin a difference in the message. Nearest-5 rounding is safe for
k in {3, 4, 5, 6, 8}; k = 7 fails (5 and 10 pin 1..5), k = 10 fails (10 and 15 pin 1..7).
Suppression without rounding (r = 1) fails for every k >= 2: k + 1 and k pin a difference of 1.
A policy is also refused when k < 2 (nothing hidden) or when k itself would round to 0.

The guarantee is about two views. It does not cover three or more views combined (month m,
month m + 1 and the window m..m+1 together; a cell beside its neighbours and their area),
nor anything an adversary knows from outside. Where a view and all its parts reach the same
audience, show the view as ``publish_total`` of its parts. See docs/disclosure.md.

Partner records. ``partner_properties`` fails closed: a property not on the allow-list
(``PARTNER_PROPERTY_CHECKS``) is refused, not dropped, since an unknown key may carry a point,
an address, a person or free text; each allowed key checks the shape of its value, a count must
be one ``publish_count`` can produce, and residential place types (which may be a young
person's home) are refused. ``partner_geometry`` lets only polygons with an area through.
Refusals raise ``InvalidInput`` and never repeat the value refused.
"""

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeGuard

import numpy as np
from numpy.typing import ArrayLike, NDArray
from shapely.geometry import mapping as geojson_of
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from contexts.errors import InvalidInput
from mapping.places.models import PlaceType

DEFAULT_THRESHOLD: Final = 8
DEFAULT_ROUNDING_BASE: Final = 5
RATE_PER: Final = 1000
RATE_DECIMALS: Final = 1
GI_STAR_BINS: Final = range(-3, 4)
PARTNER_GEOMETRY_TYPES: Final = frozenset({"Polygon", "MultiPolygon"})
RESIDENTIAL_PLACE_TYPES: Final = frozenset({PlaceType.PRIVATE_ADDRESS.value, PlaceType.HMO.value})
"""Place types that may be where a young person lives: never named in a partner output."""

CELLS_AND_AREAS_ONLY: Final = "Partners see grid cells and areas only, never a point or a line."

_CELL_ID: Final = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_AREA_CODE: Final = re.compile(r"[A-Z0-9]{2,16}")
_AREA_NAME: Final = re.compile(r"[A-Za-z][A-Za-z0-9 ,.'&()/-]{0,99}")
_LABEL: Final = re.compile(r"[a-z][a-z0-9_]{0,39}")
_MONTH: Final = re.compile(r"\d{4}-(?:0[1-9]|1[0-2])")
_PERIOD: Final = re.compile(rf"({_MONTH.pattern})/({_MONTH.pattern})")
_POSTCODE: Final = re.compile(r"\b[A-Z]{1,2}[0-9][A-Z0-9]? ?[0-9][A-Z]{2}\b", re.IGNORECASE)
_KEY_SHOWN: Final = re.compile(r"[a-z_][a-z0-9_]{0,40}")


def round_to_base(count: int, base: int) -> int:
    """Round a non-negative count to the nearest multiple of base, halves up."""
    return (count + base // 2) // base * base


def bin_bottom(value: int, threshold: int, base: int) -> int:
    """The smallest count published as this value."""
    return max(threshold, value - base // 2)


def bin_top(value: int, base: int) -> int:
    """The largest count published as this value."""
    return value + (base + 1) // 2 - 1


@dataclass(frozen=True)
class Leak:
    """Two adjacent published values whose nested views would pin the difference to 1..high."""

    larger: int
    smaller: int
    high: int


def differencing_leak(threshold: int, base: int) -> Leak | None:
    """The narrowest pair of shown values that would pin a difference below the threshold, if any."""
    lowest = round_to_base(threshold, base)
    for smaller in (lowest, lowest + base):
        larger = smaller + base
        high = bin_top(larger, base) - bin_bottom(smaller, threshold, base)
        if high < threshold:
            return Leak(larger=larger, smaller=smaller, high=high)
    return None


def refusal(threshold: int, base: int) -> tuple[str, str] | None:
    """The field and reason for refusing a (threshold, rounding base) pair, or None if it is safe."""
    unusable = _unusable(threshold, base)
    if unusable is not None:
        return unusable
    leak = differencing_leak(threshold, base)
    return None if leak is None else ("threshold", leak_message(threshold, base, leak))


def is_safe(threshold: int, base: int) -> bool:
    """Whether a (threshold, rounding base) pair is usable and resists differencing."""
    return _unusable(threshold, base) is None and differencing_leak(threshold, base) is None


def _unusable(threshold: int, base: int) -> tuple[str, str] | None:
    """The field and reason a pair cannot work at all, before differencing is considered."""
    if type(threshold) is not int or type(base) is not int:
        return "threshold", "The threshold and the rounding base must be whole numbers."
    if base < 1:
        return "rounding_base", "The rounding base must be at least 1."
    if threshold < 2:
        return "threshold", "The threshold must be at least 2: a threshold of 1 hides nothing."
    if round_to_base(threshold, base) == 0:
        return "threshold", f"With rounding base {base} a count of {threshold} would be shown as 0."
    return None


def leak_message(threshold: int, base: int, leak: Leak) -> str:
    """Explain why a policy is refused and which thresholds would be safe."""
    safe = ", ".join(str(k) for k in safe_thresholds(base)) or "none (use a larger base)"
    between = "exactly 1 record lies" if leak.high == 1 else f"1 to {leak.high} records lie"
    return (
        f"Threshold {threshold} with rounding base {base} is refused: two views, one inside the other, "
        f"shown as {leak.larger} and {leak.smaller} would reveal that {between} between them, "
        f"fewer than {threshold}. Safe thresholds with base {base}: {safe}."
    )


def safe_thresholds(base: int) -> list[int]:
    """Every threshold that resists differencing with this rounding base (none exceed 2 * base - 1)."""
    return [k for k in range(2, 2 * base) if is_safe(k, base)]


@dataclass(frozen=True)
class PublishedTotal:
    """A margin: the sum of the shown parts, and how many parts were hidden and left out of it."""

    value: int
    hidden_parts: int


@dataclass(frozen=True)
class DisclosurePolicy:
    """Threshold k and rounding base for partner outputs; built only if it resists differencing."""

    threshold: int = DEFAULT_THRESHOLD
    rounding_base: int = DEFAULT_ROUNDING_BASE
    hidden_place_types: frozenset[str] = RESIDENTIAL_PLACE_TYPES

    def __post_init__(self) -> None:
        """Refuse a configuration under which two nested views could reveal a small count."""
        refused = refusal(self.threshold, self.rounding_base)
        if refused is not None:
            raise InvalidInput(refused[1], field=refused[0])

    @property
    def smallest_shown(self) -> int:
        """The smallest value a partner can ever see for a count."""
        return round_to_base(self.threshold, self.rounding_base)

    @property
    def hidden_label(self) -> str:
        """How a hidden count reads in tables and exports."""
        return f"fewer than {self.threshold}"

    def publish_count(self, count: int) -> int | None:
        """The value partners see for one count: None when fewer than the threshold."""
        checked = _whole_count(count)
        return None if checked < self.threshold else round_to_base(checked, self.rounding_base)

    def publish_counts(self, counts: ArrayLike) -> NDArray[np.float64]:
        """The values partners see for an array of counts, NaN where hidden."""
        checked = _whole_counts(counts)
        base = self.rounding_base
        rounded = ((checked + base // 2) // base * base).astype(np.float64)
        return np.where(checked < self.threshold, np.nan, rounded)

    def publish_rate(self, count: int, population: float) -> float | None:
        """A rate per 1,000 computed from the shown count, hidden with it."""
        shown = self.publish_count(count)
        # numpy's rounding, as publish_rates uses: Python's round() differs on halves such as 0.15.
        return (
            None
            if shown is None
            else float(np.round(shown * RATE_PER / _positive(population), RATE_DECIMALS))
        )

    def publish_rates(self, counts: ArrayLike, populations: ArrayLike) -> NDArray[np.float64]:
        """Rates per 1,000 from the shown counts, NaN where the count is hidden."""
        return np.round(self.publish_counts(counts) * RATE_PER / _populations(populations), RATE_DECIMALS)

    def publish_total(self, counts: ArrayLike) -> PublishedTotal:
        """A total that is the sum of the shown parts, so it reveals nothing they do not."""
        shown = self.publish_counts(counts)
        hidden = np.isnan(shown)
        return PublishedTotal(value=int(shown[~hidden].sum()), hidden_parts=int(hidden.sum()))

    def is_shown_value(self, value: object) -> bool:
        """Whether a value could have come out of publish_count (None, or a shown multiple)."""
        if value is None:
            return True
        return _is_int(value) and bool(value >= self.smallest_shown and value % self.rounding_base == 0)

    def partner_properties(self, properties: Mapping[str, object]) -> dict[str, object]:
        """Check a feature's properties against the partner allow-list and return a clean copy."""
        for key, value in properties.items():
            self._check_property(key, value)
        if properties.get("rate") is not None and "count" in properties and properties["count"] is None:
            raise InvalidInput("A rate must be hidden whenever its count is hidden.", field="rate")
        return dict(properties)

    def partner_feature(
        self, geometry: BaseGeometry | Mapping[str, object], properties: Mapping[str, object]
    ) -> dict[str, object]:
        """A GeoJSON feature for partners: a cell or area polygon with allow-listed properties."""
        return {
            "type": "Feature",
            "geometry": partner_geometry(geometry),
            "properties": self.partner_properties(properties),
        }

    def _check_property(self, key: str, value: object) -> None:
        """Refuse a property outside the allow-list, or a value partners may not see."""
        check = PARTNER_PROPERTY_CHECKS.get(key)
        if check is None:
            raise InvalidInput(f"{_name(key)} may not be shown to partners: {ALLOWED}.", field="properties")
        if key == "place_type" and value in self.hidden_place_types:
            raise InvalidInput("Residential place types are never shown to partners.", field=key)
        if not check(self, value):
            raise InvalidInput(f"{_name(key)} does not hold a value partners may see.", field=key)


def partner_geometry(geometry: BaseGeometry | Mapping[str, object]) -> dict[str, object]:
    """GeoJSON for a cell or area polygon; points, lines and empty shapes are refused."""
    parsed = geometry if isinstance(geometry, BaseGeometry) else _parse_polygon(geometry)
    if parsed.geom_type not in PARTNER_GEOMETRY_TYPES:
        raise InvalidInput(CELLS_AND_AREAS_ONLY, field="geometry")
    if parsed.is_empty or not parsed.is_valid or parsed.area <= 0:
        raise InvalidInput("A partner geometry must be a valid polygon with an area.", field="geometry")
    return dict(geojson_of(parsed))


def shown_values(published: NDArray[np.float64]) -> list[int | None]:
    """Turn published array values into JSON-ready whole numbers, None where hidden."""
    return [None if math.isnan(value) else int(value) for value in published.tolist()]


def _parse_polygon(geometry: Mapping[str, object]) -> BaseGeometry:
    """Read GeoJSON, refusing anything but polygons before it is parsed."""
    if geometry.get("type") not in PARTNER_GEOMETRY_TYPES:
        raise InvalidInput(CELLS_AND_AREAS_ONLY, field="geometry")
    try:
        return shape(dict(geometry))
    except (ValueError, TypeError, KeyError, IndexError) as error:
        raise InvalidInput("The geometry is not valid GeoJSON.", field="geometry") from error


def _whole_count(count: object) -> int:
    """A count as a plain non-negative int, or a refusal."""
    if not _is_int(count) or count < 0:
        raise InvalidInput("A count must be a whole number of at least 0.", field="count")
    return int(count)


def _whole_counts(counts: ArrayLike) -> NDArray[np.int64]:
    """Counts as a non-negative int64 array, or a refusal."""
    array = np.asarray(counts)
    if array.dtype.kind not in "iu" or (array.size and array.min() < 0):
        raise InvalidInput("Counts must be whole numbers of at least 0.", field="count")
    return array.astype(np.int64)


def _populations(populations: ArrayLike) -> NDArray[np.float64]:
    """Populations as a positive float array, or a refusal."""
    array = np.asarray(populations)
    if array.dtype.kind not in "iuf" or not np.all(np.isfinite(array) & (array > 0)):
        raise InvalidInput("Every population must be a positive number.", field="population")
    return array.astype(np.float64)


def _positive(population: float) -> float:
    """A population that can divide, or a refusal."""
    if isinstance(population, bool) or not isinstance(population, int | float) or not population > 0:
        raise InvalidInput("A population must be a positive number.", field="population")
    if not math.isfinite(population):
        raise InvalidInput("A population must be a positive number.", field="population")
    return float(population)


def _is_int(value: object) -> TypeGuard[int | np.integer[Any]]:
    """Whether a value is a whole number (a Python or numpy integer, not a bool)."""
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _name(key: str) -> str:
    """Name a property in a message without echoing anything that looks like data."""
    return f"Property '{key}'" if isinstance(key, str) and _KEY_SHOWN.fullmatch(key) else "A property"


def _text(pattern: re.Pattern[str]) -> Callable[[DisclosurePolicy, object], bool]:
    """A check that a value is a string of the given shape with no postcode in it."""

    def check(_policy: DisclosurePolicy, value: object) -> bool:
        """Whether the value is such a string."""
        return isinstance(value, str) and bool(pattern.fullmatch(value)) and not _POSTCODE.search(value)

    return check


def _cell_id(_policy: DisclosurePolicy, value: object) -> bool:
    """Whether a value is a grid cell identifier."""
    return (_is_int(value) and bool(value >= 0)) or _text(_CELL_ID)(_policy, value)


def _period(_policy: DisclosurePolicy, value: object) -> bool:
    """Whether a value is a window of months 'YYYY-MM/YYYY-MM' that runs forwards."""
    matched = _PERIOD.fullmatch(value) if isinstance(value, str) else None
    return matched is not None and matched.group(1) <= matched.group(2)


def _bin(_policy: DisclosurePolicy, value: object) -> bool:
    """Whether a value is a Gi* confidence bin (-3..3) or a short label for one."""
    return (_is_int(value) and value in GI_STAR_BINS) or _text(_LABEL)(_policy, value)


def _rate(_policy: DisclosurePolicy, value: object) -> bool:
    """Whether a value is a hidden rate or a finite rate of at least 0."""
    if value is None:
        return True
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return math.isfinite(value) and value >= 0


def _count(policy: DisclosurePolicy, value: object) -> bool:
    """Whether a value is one publish_count can produce, so never a raw small count."""
    return policy.is_shown_value(value)


PARTNER_PROPERTY_CHECKS: Final[Mapping[str, Callable[[DisclosurePolicy, object], bool]]] = {
    "cell_id": _cell_id,
    "area_code": _text(_AREA_CODE),
    "area_name": _text(_AREA_NAME),
    "place_type": _text(_LABEL),
    "month": _text(_MONTH),
    "period": _period,
    "count": _count,
    "rate": _rate,
    "bin": _bin,
    "trend": _text(_LABEL),
}
"""The allow-list: every property a partner output may carry, with the check its value must pass."""

ALLOWED: Final = "only " + ", ".join(PARTNER_PROPERTY_CHECKS) + " are allowed"
