"""Disclosure control: what partners see, and proof that nested views cannot be subtracted."""

from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from numpy.typing import NDArray
from shapely.geometry import LineString, MultiPoint, Point, Polygon, box

from contexts.errors import InvalidInput
from mapping.disclosure import (
    RESIDENTIAL_PLACE_TYPES,
    DisclosurePolicy,
    PublishedTotal,
    differencing_leak,
    is_safe,
    partner_geometry,
    safe_thresholds,
    shown_values,
)

Publisher = Callable[[NDArray[np.int64]], NDArray[np.float64]]

DEFAULT = DisclosurePolicy()
SAFE_PAIRS = [(k, base) for base in range(1, 13) for k in safe_thresholds(base)]
SLIDER = "month m beside the window m..m+1"
CUTS = ["one month less at the start", "one month less at the end", "one filter value less", SLIDER]


def reference_rule(threshold: int, base: int, *, show_zero: bool = False) -> Publisher:
    """The documented rule written out on its own, optionally showing 0 as 0 as many tables do."""

    def publish(counts: NDArray[np.int64]) -> NDArray[np.float64]:
        """Hide counts below the threshold and round the rest to the nearest base, halves up."""
        rounded = ((counts + base // 2) // base * base).astype(np.float64)
        hidden = (counts < threshold) & ~((counts == 0) & show_zero)
        return np.where(hidden, np.nan, rounded)

    return publish


def matching(shown: NDArray[np.float64], value: float) -> NDArray[np.bool_]:
    """Which published values equal the one seen (hidden matches hidden)."""
    return np.isnan(shown) if np.isnan(value) else shown == value


def consistent_differences(publish: Publisher, seen_a: float, seen_b: float, upper: int) -> NDArray[np.int64]:
    """Every true a' - b' with a' >= b' that publishes as what the adversary saw."""
    candidates = np.arange(upper + 1, dtype=np.int64)
    shown = publish(candidates)
    differences = np.subtract.outer(candidates[matching(shown, seen_a)], candidates[matching(shown, seen_b)])
    return np.unique(differences[differences >= 0])


def adversary(publish: Publisher, outer: int, inner: int, threshold: int, base: int) -> NDArray[np.int64]:
    """Publish two nested views and return what an adversary can say about the records between them."""
    seen = publish(np.array([outer, inner], dtype=np.int64))
    differences = consistent_differences(
        publish, float(seen[0]), float(seen[1]), outer + threshold + 2 * base
    )
    assert outer - inner in differences
    return differences


def pins_small_difference(differences: NDArray[np.int64], threshold: int) -> bool:
    """Whether every consistent difference lies in 1..threshold-1, which the guarantee forbids."""
    return bool(differences.min() >= 1 and differences.max() < threshold)


def brute_force_pins(threshold: int, base: int) -> bool:
    """Whether any two nested counts, well past the first published values, pin a small difference."""
    counts = np.arange(threshold + 4 * base + 1, dtype=np.int64)
    shown = np.nan_to_num(reference_rule(threshold, base)(counts), nan=-1.0)
    complete = counts[shown != shown[-1]]  # the top value's range of counts may be cut short
    outer, inner = np.meshgrid(complete, complete, indexing="ij")
    nested = outer >= inner
    gaps = (outer - inner)[nested]
    seen = np.stack([shown[outer][nested], shown[inner][nested]], axis=1)
    _, pair = np.unique(seen, axis=0, return_inverse=True)
    harmless = np.bincount(pair.ravel(), weights=((gaps == 0) | (gaps >= threshold)).astype(np.float64))
    return bool((harmless == 0).any())


def accepted(threshold: int, base: int) -> bool:
    """Whether the policy can be built with this threshold and base."""
    try:
        DisclosurePolicy(threshold=threshold, rounding_base=base)
    except InvalidInput:
        return False
    return True


@st.composite
def nested_views(draw: st.DrawFn) -> tuple[int, int, str]:
    """True counts of a partner view and of a view inside it, from monthly counts per filter value."""
    counts = draw(
        arrays(
            np.int64,
            st.tuples(st.integers(2, 6), st.integers(1, 4)),
            elements=st.integers(0, 4) | st.integers(0, 30),
        )
    )
    months, values = counts.shape
    chosen = draw(st.lists(st.integers(0, values - 1), min_size=1, unique=True))
    cut = draw(st.sampled_from(CUTS))
    if cut == SLIDER:
        month = draw(st.integers(0, months - 2))
        window = counts[month : month + 2][:, chosen]
        return int(window.sum()), int(window[draw(st.integers(0, 1))].sum()), cut
    first = draw(st.integers(0, months - 1))
    window = counts[first : draw(st.integers(first, months - 1)) + 1][:, chosen]
    if cut == CUTS[0]:
        return int(window.sum()), int(window[1:].sum()), cut
    if cut == CUTS[1]:
        return int(window.sum()), int(window[:-1].sum()), cut
    return int(window.sum()), int(np.delete(window, draw(st.integers(0, len(chosen) - 1)), axis=1).sum()), cut


def test_default_hides_below_eight_including_zero_and_rounds_the_rest_to_five() -> None:
    """The default policy: 0..7 hidden, 8..12 shown as 10, 13..17 as 15."""
    assert (DEFAULT.threshold, DEFAULT.rounding_base) == (8, 5)
    assert [DEFAULT.publish_count(n) for n in (0, 1, 7, 8, 12, 13, 17, 18, 1234)] == [
        None,
        None,
        None,
        10,
        10,
        15,
        15,
        20,
        1235,
    ]
    assert DEFAULT.hidden_label == "fewer than 8"


@given(st.sampled_from(SAFE_PAIRS), st.integers(0, 10_000))
def test_a_shown_count_is_a_multiple_of_the_base_within_half_a_base(
    pair: tuple[int, int], count: int
) -> None:
    """Counts from the threshold up are shown rounded to the nearest multiple; the rest are hidden."""
    policy = DisclosurePolicy(threshold=pair[0], rounding_base=pair[1])
    shown = policy.publish_count(count)
    if count < policy.threshold:
        assert shown is None
    else:
        assert shown is not None
        assert shown > 0
        assert shown % policy.rounding_base == 0
        assert abs(shown - count) <= policy.rounding_base / 2


@given(st.sampled_from(SAFE_PAIRS), arrays(np.int64, st.integers(0, 50), elements=st.integers(0, 500)))
def test_arrays_are_published_exactly_as_single_counts(
    pair: tuple[int, int], counts: NDArray[np.int64]
) -> None:
    """The vectorised path agrees with the single-count path, NaN standing for hidden."""
    policy = DisclosurePolicy(threshold=pair[0], rounding_base=pair[1])
    assert shown_values(policy.publish_counts(counts)) == [policy.publish_count(int(n)) for n in counts]


@pytest.mark.parametrize("count", [-1, 2.5, True, "9"])
def test_a_count_that_is_not_a_whole_number_of_at_least_zero_is_refused(count: object) -> None:
    """Publishing refuses negative, fractional, boolean and text counts."""
    with pytest.raises(InvalidInput):
        DEFAULT.publish_count(count)  # type: ignore[arg-type]


@pytest.mark.parametrize("counts", [[3, -1], [2.5, 9.0], [True, False], ["9"]])
def test_an_array_that_is_not_whole_counts_is_refused(counts: list[float | str]) -> None:
    """The vectorised path refuses what the single-count path refuses."""
    with pytest.raises(InvalidInput):
        DEFAULT.publish_counts(counts)


def test_policy_is_accepted_exactly_when_no_two_nested_views_pin_a_small_difference() -> None:
    """Each (k, base) up to (40, 20) is accepted iff brute force finds no leak, and then follows the rule."""
    counts = np.arange(200, dtype=np.int64)
    for base in range(1, 21):
        for threshold in range(1, 41):
            usable = threshold >= 2 and (threshold + base // 2) // base > 0
            safe = usable and not brute_force_pins(threshold, base)
            assert accepted(threshold, base) == safe == is_safe(threshold, base), (threshold, base)
            if safe:
                policy = DisclosurePolicy(threshold=threshold, rounding_base=base)
                expected = reference_rule(threshold, base)(counts)
                np.testing.assert_array_equal(policy.publish_counts(counts), expected)


def test_every_refusal_names_two_values_that_really_pin_a_difference() -> None:
    """The pair named in a refusal is a real attack: the adversary pins the gap to 1..high."""
    for base in range(1, 21):
        for threshold in range(2, 41):
            leak = differencing_leak(threshold, base)
            if leak is None:
                continue
            publish = reference_rule(threshold, base)
            gaps = consistent_differences(publish, leak.larger, leak.smaller, threshold + 4 * base)
            assert gaps.min() == 1, (threshold, base)
            assert gaps.max() == leak.high < threshold, (threshold, base)


def test_threshold_ten_with_base_five_is_refused_with_the_values_that_leak() -> None:
    """Views shown as 15 and 10 would pin the records between them to 1..7."""
    with pytest.raises(InvalidInput) as refused:
        DisclosurePolicy(threshold=10, rounding_base=5)
    assert "15 and 10" in refused.value.detail
    assert "1 to 7 records" in refused.value.detail
    assert refused.value.field == "threshold"


def test_safe_thresholds_for_base_five_leave_out_seven_and_everything_above_eight() -> None:
    """With base 5 only 3, 4, 5, 6 and 8 resist differencing; 10 needs base 10."""
    assert safe_thresholds(5) == [3, 4, 5, 6, 8]
    assert accepted(10, 10)
    assert not accepted(7, 5)
    assert not accepted(9, 5)


@pytest.mark.parametrize(("threshold", "base"), [(1, 5), (2, 5), (8, 0), (8.0, 5)])
def test_unusable_policies_are_refused(threshold: int, base: int) -> None:
    """A threshold that hides nothing, a first value shown as 0, a zero base or a fraction."""
    assert not accepted(threshold, base)


@st.composite
def nested_counts(draw: st.DrawFn) -> tuple[int, int, int, int]:
    """A safe policy with true counts a >= b, most often near the first published values."""
    threshold, base = draw(st.sampled_from(SAFE_PAIRS))
    inner = draw(st.integers(max(0, threshold - base), threshold + 3 * base) | st.integers(0, 5000))
    return threshold, base, inner + draw(st.integers(0, 2 * threshold)), inner


@settings(max_examples=400, deadline=None)
@given(nested_counts())
def test_no_two_nested_counts_pin_a_difference_below_the_threshold(counts: tuple[int, int, int, int]) -> None:
    """For any safe policy and any a >= b, the consistent a - b include 0 or reach k."""
    threshold, base, outer, inner = counts
    policy = DisclosurePolicy(threshold=threshold, rounding_base=base)
    gaps = adversary(policy.publish_counts, outer, inner, threshold, base)
    assert not pins_small_difference(gaps, threshold)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(SAFE_PAIRS), nested_views())
def test_views_one_month_or_one_filter_value_apart_never_pin_a_small_difference(
    pair: tuple[int, int], views: tuple[int, int, str]
) -> None:
    """A month less at either end of a window, a slider month beside its two months, a filter value less."""
    threshold, base = pair
    policy = DisclosurePolicy(threshold=threshold, rounding_base=base)
    outer, inner, _cut = views
    assert not pins_small_difference(
        adversary(policy.publish_counts, outer, inner, threshold, base), threshold
    )


@pytest.mark.parametrize("threshold", range(2, 21))
def test_plain_suppression_without_rounding_fails_the_same_check(threshold: int) -> None:
    """Hiding 1..k-1 and showing the rest exactly lets k+1 and k pin a difference of exactly 1."""
    publish = reference_rule(threshold, 1)
    gaps = adversary(publish, threshold + 1, threshold, threshold, 1)
    assert gaps.tolist() == [1]
    assert pins_small_difference(gaps, threshold)


def test_showing_zero_beside_hidden_small_counts_would_leak() -> None:
    """A hidden view over a view shown as 0 pins the records between them to 1..7; hiding 0 too does not."""
    showing_zero = reference_rule(8, 5, show_zero=True)
    assert pins_small_difference(adversary(showing_zero, 3, 0, 8, 5), 8)
    assert not pins_small_difference(adversary(DEFAULT.publish_counts, 3, 0, 8, 5), 8)


@given(st.integers(0, 5000), st.floats(1, 1e6, allow_nan=False))
def test_a_rate_is_computed_from_the_shown_count_and_hidden_with_it(count: int, population: float) -> None:
    """Two counts shown alike give the same rate, so the rate says nothing more than the count."""
    shown = DEFAULT.publish_count(count)
    rate = DEFAULT.publish_rate(count, population)
    assert rate == (None if shown is None else float(np.round(shown * 1000 / population, 1)))
    alike = [n for n in range(max(0, count - 5), count + 6) if DEFAULT.publish_count(n) == shown]
    assert {DEFAULT.publish_rate(n, population) for n in alike} == {rate}


@given(arrays(np.int64, st.integers(1, 30), elements=st.integers(0, 300)), st.floats(1, 1e5))
@example(counts=np.array([13]), population=100000.0)  # 15 per 100,000 is 0.15 per 1,000: a half
def test_rates_for_arrays_agree_with_single_rates(counts: NDArray[np.int64], population: float) -> None:
    """The vectorised rate is NaN exactly where the count is hidden and equal elsewhere."""
    rates = DEFAULT.publish_rates(counts, np.full(counts.shape, population))
    expected = [DEFAULT.publish_rate(int(n), population) for n in counts]
    assert [None if np.isnan(r) else r for r in rates.tolist()] == expected


@pytest.mark.parametrize("population", [0, -5, float("nan"), float("inf"), True])
def test_a_rate_needs_a_positive_population(population: float) -> None:
    """A missing, zero or negative population is refused rather than dividing by it."""
    with pytest.raises(InvalidInput):
        DEFAULT.publish_rate(20, population)
    with pytest.raises(InvalidInput):
        DEFAULT.publish_rates([20], [population])


def test_a_total_adds_the_shown_parts_and_counts_the_hidden_ones() -> None:
    """Hidden parts are left out of the sum and counted, so a table can say so."""
    assert DEFAULT.publish_total([3, 10, 20, 0]) == PublishedTotal(value=30, hidden_parts=2)


@given(arrays(np.int64, st.integers(1, 12), elements=st.integers(0, 40)), st.data())
def test_a_total_is_the_same_whatever_a_hidden_part_holds(
    counts: NDArray[np.int64], data: st.DataObject
) -> None:
    """Any value 0..k-1 in a hidden part gives the same published total: the part cannot be recovered."""
    hidden = np.flatnonzero(counts < DEFAULT.threshold)
    total = DEFAULT.publish_total(counts)
    for part in hidden:
        for alternative in range(DEFAULT.threshold):
            changed = counts.copy()
            changed[part] = alternative
            assert DEFAULT.publish_total(changed) == total
    if hidden.size:
        changed = counts.copy()
        changed[hidden] = data.draw(arrays(np.int64, hidden.size, elements=st.integers(0, 7)))
        assert DEFAULT.publish_total(changed) == total


def test_a_rounded_true_total_would_let_a_hidden_part_be_recovered() -> None:
    """Parts shown as hidden and 10 with a true total shown as 15 pin the hidden part to 1..7; ours do not."""
    hidden, visible = 5, 10
    naive_total = DEFAULT.publish_count(hidden + visible)
    visible_range = [n for n in range(40) if DEFAULT.publish_count(n) == DEFAULT.publish_count(visible)]
    naive = {h for h in range(8) for v in visible_range if DEFAULT.publish_count(h + v) == naive_total}
    assert naive
    assert min(naive) >= 1
    total = DEFAULT.publish_total([hidden, visible])
    ours = {h for h in range(8) for v in visible_range if DEFAULT.publish_total([h, v]) == total}
    assert ours == set(range(8))


def aggregate_record() -> dict[str, object]:
    """A hotspot cell record with every allow-listed property filled in."""
    return {
        "cell_id": "BNG250-5321-1784",
        "area_code": "E01000001",
        "area_name": "Kestrel Vale 012A",
        "place_type": "takeaway",
        "month": "2026-03",
        "period": "2026-01/2026-03",
        "count": 15,
        "rate": 4.2,
        "bin": 3,
        "trend": "intensifying",
    }


def test_an_aggregate_record_passes_as_a_copy() -> None:
    """Allow-listed keys with aggregate values are kept, in a new mapping."""
    record = aggregate_record()
    cleaned = DEFAULT.partner_properties(record)
    assert cleaned == record
    assert cleaned is not record


@pytest.mark.parametrize(
    "key",
    [
        "address",
        "postcode",
        "latitude",
        "lon",
        "young_person_id",
        "person_id",
        "notes",
        "description",
        "name",
    ],
)
def test_a_property_outside_the_allow_list_is_refused(key: str) -> None:
    """A point, an address, a person or free text cannot ride along with an aggregate."""
    with pytest.raises(InvalidInput) as refused:
        DEFAULT.partner_properties({**aggregate_record(), key: "anything"})
    assert f"'{key}'" in refused.value.detail
    assert refused.value.field == "properties"


def test_a_refusal_never_repeats_the_value_it_refused() -> None:
    """Free text must not reach an error message or a log line."""
    for record in ({"notes": "Sam was seen at 12 Heron Road"}, {"area_name": "12 Heron Road KV1 2AB"}):
        with pytest.raises(InvalidInput) as refused:
            DEFAULT.partner_properties(record)
        assert "Heron" not in str(refused.value)
        assert "Heron" not in str(refused.value.extra())


@given(st.integers(0, 10_000))
def test_only_counts_that_went_through_publication_may_be_shown(count: int) -> None:
    """A published count is accepted; a raw count the rule would never show is refused."""
    assert DEFAULT.partner_properties({"count": DEFAULT.publish_count(count)})
    if DEFAULT.publish_count(count) != count:
        with pytest.raises(InvalidInput):
            DEFAULT.partner_properties({"count": count})


def test_a_rate_cannot_be_shown_beside_a_hidden_count() -> None:
    """Rates are hidden alongside their counts."""
    with pytest.raises(InvalidInput):
        DEFAULT.partner_properties({"count": None, "rate": 2.0})
    assert DEFAULT.partner_properties({"count": None, "rate": None}) == {"count": None, "rate": None}


@pytest.mark.parametrize("place_type", sorted(RESIDENTIAL_PLACE_TYPES))
def test_residential_place_types_are_never_shown(place_type: str) -> None:
    """A private address or a house in multiple occupation may be where a young person lives."""
    assert {"private_address", "hmo"} == RESIDENTIAL_PLACE_TYPES
    with pytest.raises(InvalidInput):
        DEFAULT.partner_properties({"place_type": place_type, "count": 20})


def test_a_deployment_can_hide_more_place_types() -> None:
    """A residential type added to the taxonomy can be hidden as well."""
    policy = DisclosurePolicy(hidden_place_types=RESIDENTIAL_PLACE_TYPES | {"supported_housing"})
    with pytest.raises(InvalidInput):
        policy.partner_properties({"place_type": "supported_housing"})


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("month", "2026-13"),
        ("month", "March 2026"),
        ("period", "2026-03/2026-01"),
        ("bin", 4),
        ("bin", True),
        ("trend", "Seen with older males"),
        ("area_code", "e01 000001"),
        ("area_name", "Flat 2, KV1 2AB"),
        ("cell_id", -1),
        ("cell_id", "cell id with spaces"),
        ("rate", -1.0),
        ("rate", float("nan")),
        ("count", 7),
        ("count", 13),
        ("count", "10"),
    ],
)
def test_allow_listed_keys_still_refuse_values_that_are_not_aggregates(key: str, value: object) -> None:
    """Each allowed key checks the shape of its value."""
    with pytest.raises(InvalidInput) as refused:
        DEFAULT.partner_properties({key: value})
    assert refused.value.field == key


@pytest.mark.parametrize(
    "geometry",
    [
        Point(-0.1, 51.5),
        MultiPoint([(0, 0), (1, 1)]),
        LineString([(0, 0), (1, 1)]),
        {"type": "Point", "coordinates": [-0.1, 51.5]},
        {"type": "LineString", "coordinates": [[0, 0], [1, 1]]},
        Polygon(),
        Polygon([(0, 0), (1, 1), (2, 2)]),
        Point(0, 0).buffer(0),
        {"type": "Polygon", "coordinates": "not coordinates"},
    ],
)
def test_partners_never_receive_a_point_a_line_or_an_empty_shape(geometry: object) -> None:
    """Only polygons with an area (cells, areas) leave for partners."""
    with pytest.raises(InvalidInput) as refused:
        partner_geometry(geometry)  # type: ignore[arg-type]
    assert refused.value.field == "geometry"


def test_a_cell_polygon_becomes_a_partner_feature() -> None:
    """A cell and its aggregate record become one GeoJSON feature."""
    cell = box(530000, 180000, 530250, 180250)
    feature = DEFAULT.partner_feature(cell, {"cell_id": 7, "count": None})
    assert feature["type"] == "Feature"
    assert feature["properties"] == {"cell_id": 7, "count": None}
    geometry = feature["geometry"]
    assert isinstance(geometry, dict)
    assert geometry["type"] == "Polygon"
    assert partner_geometry(geometry) == geometry
