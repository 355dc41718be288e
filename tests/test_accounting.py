"""The shared counting rules: counts, whole-number arguments, and the buckets that must add up."""

from __future__ import annotations

import dataclasses

import pytest

from airflow_contact_removal.accounting import (
    BATCH_BUCKETS,
    OUTCOME_BUCKETS,
    SUMMARY_BUCKETS,
    add_buckets,
    bucket_total,
    count_of,
    imbalance,
    is_count,
    whole_number,
)
from airflow_contact_removal.exceptions import ContactRemovalConfigError
from airflow_contact_removal.identifiers import parse_rendered
from airflow_contact_removal.results import BatchOutcome, BatchResult, RemovalSummary


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, True),
        (7, True),
        (-1, False),
        (True, False),
        (False, False),
        (1.0, False),
        ("3", False),
        (None, False),
    ],
)
def test_a_count_is_a_non_negative_int_and_never_a_bool(value, expected):
    assert is_count(value) is expected
    assert count_of(value) == (value if expected else 0)


def test_bucket_total_adds_the_named_buckets_and_counts_junk_as_zero():
    record = {"removed": 3, "not_found": 2, "accepted": None, "failed": "4", "size": 99}
    assert bucket_total(record, BATCH_BUCKETS) == 5


def test_imbalance_is_none_only_when_the_buckets_add_up_to_a_count():
    assert imbalance({"size": 5, "removed": 3, "failed": 2}, "size", BATCH_BUCKETS) is None
    assert imbalance({"size": 0}, "size", BATCH_BUCKETS) is None
    assert imbalance({"size": 5, "removed": 3}, "size", BATCH_BUCKETS) == "size=5 but buckets add up to 3"
    # A total that is not a count never balances, even when the numbers compare equal.
    assert imbalance({"size": 3.0, "removed": 3}, "size", BATCH_BUCKETS) is not None
    assert imbalance({"requested": True, "removed": 1}, "requested", SUMMARY_BUCKETS) is not None
    assert imbalance({"removed": 0}, "requested", SUMMARY_BUCKETS) == "requested=None but buckets add up to 0"


def test_the_bucket_names_are_the_fields_of_the_records_that_carry_them():
    outcome_fields = {field.name for field in dataclasses.fields(BatchOutcome)}
    result_fields = {field.name for field in dataclasses.fields(BatchResult)}
    summary_fields = {field.name for field in dataclasses.fields(RemovalSummary)}
    assert set(OUTCOME_BUCKETS) <= outcome_fields
    assert set(BATCH_BUCKETS) <= result_fields
    assert set(SUMMARY_BUCKETS) <= summary_fields


def test_the_summary_checks_its_identity_with_the_shared_buckets():
    summary = RemovalSummary(vendor="migma", operation="remove_contacts", requested=6)
    for bucket, count in zip(SUMMARY_BUCKETS, (1, 1, 1, 1, 1, 1, 0), strict=True):
        setattr(summary, bucket, count)
    summary.check()
    summary.planned = 1
    with pytest.raises(AssertionError, match="requested=6 but buckets add up to 7"):
        summary.check()


@pytest.mark.parametrize(("value", "expected"), [(5, 5), ("5", 5), (" 12 ", 12), (0, 0), ("-3", -3)])
def test_whole_number_reads_ints_and_rendered_text(value, expected):
    assert whole_number(value, "n") == expected


@pytest.mark.parametrize("value", [True, False, 2.5, 2.0, "ten", "", None, [3]])
def test_whole_number_refuses_anything_else_by_name(value):
    with pytest.raises(ContactRemovalConfigError, match=r"^n must be a whole number"):
        whole_number(value, "n")


def test_whole_number_enforces_the_minimum():
    assert whole_number("1", "shards", minimum=1) == 1
    with pytest.raises(ContactRemovalConfigError, match="shards must be at least 1, got 0"):
        whole_number("0", "shards", minimum=1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('["a@x.com", "b@x.com"]', ["a@x.com", "b@x.com"]),
        ("['a@x.com']", ["a@x.com"]),
        ("('a', 'b')", ("a", "b")),
        ('{"k": 1}', {"k": 1}),
    ],
)
def test_parse_rendered_reads_json_then_python_literals(text, expected):
    assert parse_rendered(text) == expected


@pytest.mark.parametrize("text", ["[a@x.com]", "__import__('os')", "[" * 100_000])
def test_parse_rendered_refuses_what_is_neither_and_evaluates_nothing(text):
    with pytest.raises(ValueError, match="not JSON or a Python literal"):
        parse_rendered(text)


def test_a_split_batch_with_rejected_records_folds_without_breaking_its_identity():
    # A batch split to isolate a record the vendor refused holds invalid records beside the accepted
    # ones: folding the vendor's later answer must count them, not call the batch unbalanced.
    from airflow_contact_removal.wooxy_completion import fold_outcomes, folded_summary

    record = BatchResult(
        0,
        3,
        "ok",
        {"emails": 3},
        accepted=2,
        invalid=1,
        request_id="r1",
        rejected=[{"kind": "emails", "value": "bad@x.com", "reason": "rejected by Wooxy: invalid"}],
        identifiers={"emails": ["a@x.com", "b@x.com"]},
    ).to_dict()
    status = {"request_id": "r1", "status": "done", "successes": [{"email": "a@x.com"}], "errors": []}
    folded, totals = fold_outcomes([record], {"r1": status})
    assert (folded[0]["removed"], folded[0]["failed"], folded[0]["invalid"]) == (1, 1, 1)
    assert imbalance(folded[0], "size", BATCH_BUCKETS) is None
    summary = RemovalSummary(vendor="wooxy", operation="remove_from_list", requested=3, accepted=2, invalid=1)
    assert folded_summary(summary.to_dict(), folded, totals)["removed"] == 1


def test_add_buckets_adds_only_the_named_buckets():
    summary = RemovalSummary(vendor="migma", operation="remove_contacts", removed=1)
    add_buckets(
        summary, BatchResult(0, 5, "partial", {}, removed=2, failed=2, invalid=1, attempts=3), BATCH_BUCKETS
    )
    assert (summary.removed, summary.failed, summary.invalid, summary.batches) == (3, 2, 1, 0)
