"""Storage primitives: generator patterns and the fast lookups the vendor endpoints use per identifier."""

from __future__ import annotations

import copy
import itertools

import pytest

from airflow_contact_removal.sandbox.records import Pattern, Roster


def _round_trip(pattern: Pattern, value: str) -> int | None:
    """The definition ``Pattern.parse`` must meet: the ``i`` that ``format`` turns into ``value``."""
    middle = value[len(pattern.prefix) : len(value) - len(pattern.suffix)]
    if len(value) <= len(pattern.prefix) + len(pattern.suffix) or not value.startswith(pattern.prefix):
        return None
    if not value.endswith(pattern.suffix) or not (middle.isascii() and middle.isdigit()):
        return None
    return int(middle) if pattern.format(int(middle)) == value else None


@pytest.mark.parametrize(
    "text", ["user{i}@example.com", "{i}", "+3160{i:07d}", "a{i:01d}", "{i:02d}b", "a.b*c{i}(d)", "x{i:00d}"]
)
def test_pattern_parse_is_the_inverse_of_format(text):
    pattern = Pattern(text)
    digits = [
        "".join(d) for n in range(12) for d in itertools.islice(itertools.product("0159", repeat=n), 300)
    ]
    odd = ["a", "1a", "-1", "+1", " 1", "1 ", "1_0", "1\n", "\u0663", "\uff11"]
    for middle in digits + odd:
        for value in (
            pattern.prefix + middle + pattern.suffix,
            middle,
            "z" + pattern.prefix + middle + pattern.suffix,
            pattern.prefix + middle + pattern.suffix + "\n",
        ):
            assert pattern.parse(value) == _round_trip(pattern, value), value
    assert pattern.parse(pattern.format(0)) == 0
    assert pattern.parse(pattern.format(12_345_678_901)) == 12_345_678_901


def _roster() -> Roster:
    roster = Roster(("email", "phone"))
    roster.add({"email": "seeded@x.com", "phone": "+31600000001"})
    roster.add_sequence(0, 10, {"email": Pattern("user{i}@x.com")})
    # a second range whose values also parse under the first pattern ("user15@x.com" is i=15 and i=5)
    roster.add_sequence(5, 10, {"email": Pattern("user1{i}@x.com"), "phone": Pattern("+3170{i:07d}")})
    return roster


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("email", "seeded@x.com"),
        ("phone", "+31600000001"),
        ("email", "user3@x.com"),
        ("email", "user15@x.com"),
        ("email", "user19@x.com"),
        ("phone", "+31700000007"),
        ("email", "user03@x.com"),
        ("email", "nobody@x.com"),
        ("phone", "+3170000007"),
    ],
)
def test_find_record_and_remove_value_match_find_get_and_remove(field, value):
    fast = _roster()
    slow = copy.deepcopy(fast)
    record_id = slow.find(field, value)
    assert fast.find_record(field, value) == (None if record_id is None else slow.get(record_id))
    assert fast.remove_value(field, value) == (record_id is not None and slow.remove(record_id))
    assert fast.find(field, value) == slow.find(field, value)
    assert len(fast) == len(slow)
    # removed once, gone: a second removal finds nothing (or the next range's record with that value)
    assert fast.remove_value(field, value) == (slow.find(field, value) is not None)


def test_remove_value_then_seeding_brings_a_generated_contact_back():
    roster = _roster()
    record = roster.find_record("email", "user3@x.com")
    assert record is not None and record["phone"] is None
    assert roster.remove_value("email", "user3@x.com")
    assert roster.find_record("email", "user3@x.com") is None
    assert roster.add({"email": "user3@x.com", "phone": None}) == (record["id"], True)
