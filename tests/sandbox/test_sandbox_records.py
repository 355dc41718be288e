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


@pytest.mark.parametrize(
    "text", ["user{i}@example.com", "{i}", "+3160{i:07d}", "{i:02d}b", "a.b*c{i}(d)", "a\n{i}", "{i}\n"]
)
def test_parse_all_is_parse_for_each_value(text):
    pattern = Pattern(text)
    middles = ["0", "7", "007", "0000007", "10", "1234567", "12345678", "", "a", "-1", " 1", "1\n", "\u0663"]
    values = [pattern.prefix + middle + pattern.suffix for middle in middles]
    values += ["", "\n", "z", pattern.format(3) + "\n", "\n" + pattern.format(3), pattern.format(3) + "\r"]
    values += [pattern.format(5)] * 3 + [pattern.format(5).upper(), " " + pattern.format(5)]
    generated = [pattern.format(i) for i in range(0, 3000, 7)]
    batches = [
        values,
        generated,
        [*generated, "nope"],
        ["nope", *generated],
        generated[:1],
        [],
        [""],
        ["", ""],
    ]
    batches += [[value] for value in values] + [[value, *generated[:3], value] for value in values]
    for batch in batches:
        assert pattern.parse_all(batch) == [pattern.parse(value) for value in batch], batch


def _roster() -> Roster:
    roster = Roster(("email", "phone"))
    roster.add({"email": "seeded@x.com", "phone": "+31600000001"})
    roster.add_sequence(0, 10, {"email": Pattern("user{i}@x.com")})
    # a second range whose values also parse under the first pattern ("user15@x.com" is i=15 and i=5)
    roster.add_sequence(5, 10, {"email": Pattern("user1{i}@x.com"), "phone": Pattern("+3170{i:07d}")})
    return roster


VALUES = {
    "email": [
        "seeded@x.com",
        "user3@x.com",
        "user15@x.com",
        "user19@x.com",
        "user3@x.com",  # again: gone after the first
        "user03@x.com",
        "nobody@x.com",
        "user9@x.com",
    ],
    "phone": ["+31600000001", "+31700000007", "+3170000007", "+31700000007", "+31700000014"],
}


@pytest.mark.parametrize("field", ["email", "phone"])
def test_find_record_matches_find_and_get(field):
    roster = _roster()
    for value in VALUES[field]:
        record_id = roster.find(field, value)
        assert roster.find_record(field, value) == (None if record_id is None else roster.get(record_id))


@pytest.mark.parametrize("field", ["email", "phone"])
def test_remove_values_is_remove_find_in_order(field):
    fast = _roster()
    slow = copy.deepcopy(fast)
    expected = []
    for value in VALUES[field]:
        record_id = slow.find(field, value)
        expected.append(record_id is not None and slow.remove(record_id))
    assert fast.remove_values(field, VALUES[field]) == expected
    assert True in expected and False in expected
    assert len(fast) == len(slow)
    assert sorted(r["id"] for r in fast.iter_records()) == sorted(r["id"] for r in slow.iter_records())


EMAILS = [
    "user3@x.com",
    "user03@x.com",  # leading zero: not i = 3
    "user0@x.com",
    "user00@x.com",
    "user9@x.com",
    "user10@x.com",  # past the range
    "user3@x.com",  # again: gone after the first
    "user-1@x.com",
    "User4@x.com",  # values reach the roster normalised; this one is not
    "seeded@x.com",  # no seeded contact in this roster
    "user5@x.com\nuser6@x.com",
    "",
    "user6@x.com",
]


@pytest.mark.parametrize("values", [EMAILS, [f"user{i}@x.com" for i in (9, 0, 5, 5, 1)], ["nobody@x.com"]])
def test_remove_values_of_one_generated_range(values):
    """Only a generated range and no seeded contact: remove_values takes a shortcut; same answers."""
    fast = Roster(("email",))
    fast.add_sequence(0, 10, {"email": Pattern("user{i}@x.com")})
    slow = copy.deepcopy(fast)
    assert slow.remove(slow.find("email", "user2@x.com")) and fast.remove_values("email", ["user2@x.com"])
    expected = []
    for value in values:
        record_id = slow.find("email", value)
        expected.append(record_id is not None and slow.remove(record_id))
    assert fast.remove_values("email", values) == expected
    assert len(fast) == len(slow)
    assert sorted(r["id"] for r in fast.iter_records()) == sorted(r["id"] for r in slow.iter_records())
    assert fast.remove_values("email", values) == [False] * len(values)  # already removed


@pytest.mark.parametrize("field", ["email", "phone"])
@pytest.mark.parametrize("spare_every", [0, 1, 2, 3])
def test_remove_records_is_find_record_then_remove(field, spare_every):
    fast = _roster()
    slow = copy.deepcopy(fast)
    fast_asked, slow_asked = itertools.count(1), itertools.count(1)
    spare = (lambda: next(fast_asked) % spare_every == 0) if spare_every else None
    expected = []
    for value in VALUES[field]:
        record = slow.find_record(field, value)
        if record is None:
            expected.append((None, False))
        elif spare_every and next(slow_asked) % spare_every == 0:
            expected.append((record, False))
        else:
            expected.append((record, slow.remove(record["id"])))
    assert fast.remove_records(field, VALUES[field], spare) == expected
    assert next(fast_asked) == next(slow_asked)  # asked as often, once per record found
    assert list(fast.iter_records()) == list(slow.iter_records())


def test_remove_records_takes_what_remove_takes_for_a_reused_id():
    """A record seeded by hand under the id of a removed generated one, which then comes back."""
    fast = Roster(("email", "phone"))
    sequence = fast.add_sequence(0, 10, {"email": Pattern("user{i}@x.com")})
    generated_id = sequence.id_of(5)
    assert fast.remove(generated_id)
    assert fast.add({"email": "other@x.com", "phone": None}, generated_id) == (generated_id, True)
    assert fast.add({"email": "user5@x.com", "phone": None}) == (generated_id, True)
    slow = copy.deepcopy(fast)
    record = slow.find_record("email", "user5@x.com")
    expected = [(record, slow.remove(record["id"]))]
    assert fast.remove_records("email", ["user5@x.com"]) == expected
    assert list(fast.iter_records()) == list(slow.iter_records())


def test_a_removed_generated_contact_comes_back_under_its_id():
    roster = _roster()
    record = roster.find_record("email", "user3@x.com")
    assert record is not None and record["phone"] is None
    assert roster.remove_values("email", ["user3@x.com"]) == [True]
    assert roster.find_record("email", "user3@x.com") is None
    assert roster.add({"email": "user3@x.com", "phone": None}) == (record["id"], True)
