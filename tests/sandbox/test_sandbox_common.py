"""Shared helpers: the batch email check must give the answer of the one-by-one check, always."""

from __future__ import annotations

import itertools

import pytest

from airflow_contact_removal.sandbox.common import all_emails, is_email, normalize_email, normalize_emails

VALID = ["a@b.co", "user7@example.com", "x.y+z@sub.example.org", "A@B.C", "a@b..c", "a@.b.c", "ünï@x.com"]
INVALID = [
    "",
    "a",
    "a@b",
    "@b.c",
    "a@.b",
    "a@b.",
    "a@@b.c",
    "a@b@c.d",
    "a b@c.d",
    " a@b.co",
    "a@b.co ",
    "a@b.co\n",
    "a@b.co\nc@d.ef",  # two valid emails in one value: must not pass as two lines
    "\na@b.co",
    "a@b.c\r",
    "a@b.c\x1c",  # ASCII characters that str.isspace() calls whitespace
    "a@b.c\x1f",
    "a@b.c\x0b",
    "a@b.c\u00a0",  # and non-ASCII ones
    "a@b.c\u2003",
    "a@b.c\u3000",
]
ODD_BUT_VALID = ["a@b.c\x1b", "a@b.c\x00", "a@b.c\u200b", "\x7f@b.c"]  # not whitespace for \s either


def _one_by_one(values: list) -> bool:
    return all(isinstance(value, str) and is_email(value) for value in values)


def test_the_ascii_class_is_what_isspace_calls_whitespace():
    ascii_space = {chr(c) for c in range(128) if chr(c).isspace()}
    assert ascii_space == {"\t", "\n", "\x0b", "\x0c", "\r", "\x1c", "\x1d", "\x1e", "\x1f", " "}
    for c in map(chr, range(128)):
        if c != "@":
            assert all_emails([f"a{c}b@x.co"]) == (not c.isspace()), repr(c)


@pytest.mark.parametrize("value", VALID + INVALID + ODD_BUT_VALID)
def test_one_value(value):
    assert all_emails([value]) == is_email(value), repr(value)
    assert all_emails(["a@b.co", value, "c@d.ef"]) == is_email(value), repr(value)


def test_every_pair_and_position():
    values = VALID + INVALID + ODD_BUT_VALID
    for pair in itertools.product(values, repeat=2):
        assert all_emails(list(pair)) == _one_by_one(list(pair)), pair
    for position in range(5):
        for bad in INVALID:
            batch = [f"user{i}@example.com" for i in range(5)]
            batch[position] = bad
            assert all_emails(batch) is False, (position, bad)


@pytest.mark.parametrize("value", [5, None, 1.5, True, ["a@b.co"], {"a": "b"}, b"a@b.co"])
def test_a_value_that_is_not_a_string(value):
    assert all_emails(["a@b.co", value]) is False


def test_large_batches_and_long_failures_are_fast():
    assert all_emails([f"user{i}@example.com" for i in range(1000)]) is True
    # many ways to split the domains, then a failure at the end: atomic groups keep this linear
    assert all_emails(["a@b.c.d.e.f.g.h"] * 1000 + ["a@b"]) is False
    assert all_emails(["a@" + "b." * 5000 + "c"] * 10 + ["@"]) is False
    assert all_emails([]) is True  # vacuous, as all(); callers refuse empty batches themselves


def test_normalize_emails_is_normalize_email_for_each():
    values = [" A@B.CO ", "\tUser7@Example.COM\n", "ÜNÏ@X.com", "a@b.co", "\u00a0x@y.zz\u00a0", "İ@x.co"]
    assert normalize_emails(values) == [normalize_email(value) for value in values]
