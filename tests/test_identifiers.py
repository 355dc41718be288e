"""Identifier cleaning: every input item lands in exactly one bucket."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_contact_removal.exceptions import ContactRemovalConfigError
from airflow_contact_removal.identifiers import (
    IdentifierCleaner,
    InvalidIdentifier,
    normalise_email,
    normalise_opaque_id,
    normalise_phone,
    normalise_uuid,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Jane.Doe@Example.COM ", "jane.doe@example.com"),
        ("a+tag@sub.example.co.uk", "a+tag@sub.example.co.uk"),
        ("ÜSER@bücher.de", "üser@bücher.de"),  # unicode local part and IDN domain (RFC 6531)
        ("o'brien@example.org", "o'brien@example.org"),
        ("x@example.xn--p1ai", "x@example.xn--p1ai"),  # punycode TLD
    ],
)
def test_email_is_trimmed_lowercased_and_kept(raw, expected):
    assert normalise_email(raw) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("plainaddress", "not an email address"),
        ("two@@example.com", "not an email address"),
        ("a b@example.com", "not an email address"),
        ("a@example", "not an email address"),
        ("a..b@example.com", "not an email address"),
        (".a@example.com", "not an email address"),
        ("a@-example.com", "not an email address"),
        ("a@example.123", "not an email address"),
        ("a@exa_mple.com", "not an email address"),
        ("a@example.com-", "not an email address"),
        ("x" * 65 + "@example.com", "local part longer than 64 characters"),
        ("a@" + "b" * 250 + ".com", "longer than 254 characters"),
    ],
)
def test_bad_email_is_refused_with_reason(raw, reason):
    with pytest.raises(InvalidIdentifier, match=reason):
        normalise_email(raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+31600000000", "+31600000000"),
        (" +31 6-0000 (0000) ", "+31600000000"),
        ("+1.555.555.5555", "+15555555555"),
    ],
)
def test_phone_separators_are_removed(raw, expected):
    assert normalise_phone(raw) == expected


@pytest.mark.parametrize(
    "raw", ["0600000000", "31600000000", "+0123456789", "+12", "+1234567890123456", "+31abc", ""]
)
def test_phone_not_e164_is_refused(raw):
    with pytest.raises(InvalidIdentifier):
        normalise_phone(raw)


def test_uuid_is_lowercased_and_checked():
    assert normalise_uuid(" 12BD0E40-9361-4E32-8B26-99B4AB7EAE09 ") == "12bd0e40-9361-4e32-8b26-99b4ab7eae09"
    for bad in ("12bd0e4093614e328b2699b4ab7eae09", "not-a-uuid", "12bd0e40-9361-4e32-8b26-99b4ab7eae0"):
        with pytest.raises(InvalidIdentifier, match="not a UUID"):
            normalise_uuid(bad)


def test_opaque_id_keeps_case_and_refuses_control_characters():
    assert normalise_opaque_id(" User-ABC ") == "User-ABC"
    with pytest.raises(InvalidIdentifier, match="control"):
        normalise_opaque_id("a\nb")


def _clean(kind, values):
    cleaner = IdentifierCleaner()
    valid = list(cleaner.clean(kind, values))
    return cleaner, valid


@pytest.mark.parametrize(
    ("given", "valid"),
    [
        (None, []),
        ([], []),
        ("", []),
        ('["a@x.com", "b@x.com"]', ["a@x.com", "b@x.com"]),  # JSON array string
        ("['a@x.com', 'b@x.com']", ["a@x.com", "b@x.com"]),  # Jinja-rendered Python list
        (("a@x.com",), ["a@x.com"]),
        ({"a@x.com"}, ["a@x.com"]),
        ((email for email in ["a@x.com"]), ["a@x.com"]),  # any iterable, even a generator
        ([("a@x.com",), ["b@x.com"]], ["a@x.com", "b@x.com"]),  # 1-column SQL rows
    ],
)
def test_accepted_input_shapes(given, valid):
    _, cleaned = _clean("emails", given)
    assert cleaned == valid


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("a@x.com", "single string"),
        (b'["a@x.com"]', "bytes"),
        ({"email": "a@x.com"}, "mapping"),
        (42, "expected a list"),
    ],
)
def test_unusable_input_is_a_clear_error(given, message):
    with pytest.raises(ContactRemovalConfigError, match=message):
        _clean("emails", given)


def test_every_item_lands_in_exactly_one_bucket():
    items = [
        "A@x.com",
        " a@x.com",  # duplicate after normalisation
        "bad",
        None,
        42,
        b"b@x.com",
        ("c@x.com", "extra column"),
        ["d@x.com"],
        "",
        "e@x.com",
    ]
    cleaner, valid = _clean("emails", items)
    assert valid == ["a@x.com", "d@x.com", "e@x.com"]
    assert cleaner.requested == len(items)
    assert cleaner.duplicates == 1
    reasons = [record.reason for record in cleaner.invalid]
    assert reasons == [
        "not an email address",
        "null value",
        "expected a string, got int",
        "bytes, not text",
        "row has 2 columns; select exactly one",
        "empty",
    ]
    assert cleaner.requested == len(valid) + len(cleaner.invalid) + cleaner.duplicates


@given(st.lists(st.one_of(st.text(max_size=30), st.emails(), st.none(), st.integers()), max_size=60))
def test_accounting_identity_holds_for_any_input(items):
    cleaner, valid = _clean("emails", items + items[:5])
    assert cleaner.requested == len(items) + len(items[:5])
    assert cleaner.requested == len(valid) + len(cleaner.invalid) + cleaner.duplicates
    assert len(set(valid)) == len(valid)
