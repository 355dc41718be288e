"""Folding Wooxy's per-contact outcome into the batch records and summary (pure functions)."""

from __future__ import annotations

import copy
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_contact_removal.results import BatchResult, RemovalSummary
from airflow_contact_removal.wooxy_completion import (
    FINAL_STATUSES,
    REASON_NO_OUTCOME,
    REASON_TIMEOUT,
    REASON_UNKNOWN,
    WooxyPollState,
    complete,
    fold_outcomes,
    folded_summary,
    is_final,
    request_ids_from,
    status_to_dict,
)
from tests.wooxy_completion.helpers import accepted_record, contact, identity_holds, status

A, B, C = "a" * 24, "b" * 24, "c" * 24


# Final statuses --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "value", ["completed", "COMPLETED", " done ", "processed", "finished", "failed", "error"]
)
def test_known_final_statuses_are_final(value):
    assert is_final(value)


@pytest.mark.parametrize("value", ["queued", "processing", "in_progress", "", None, 3, "complete-ish"])
def test_any_other_status_keeps_waiting(value):
    assert not is_final(value)


def test_the_final_set_is_the_documented_safe_reading():
    assert {"completed", "failed"} <= FINAL_STATUSES and "queued" not in FINAL_STATUSES


# Folding one batch ------------------------------------------------------------------------------------
def test_a_completed_request_with_every_contact_removed_becomes_ok():
    record = accepted_record(0, A, emails=["a@x.com", "b@x.com"])
    statuses = {A: status(A, successes=[contact("a@x.com"), contact("b@x.com")])}

    [folded], totals = fold_outcomes([record], statuses)

    assert folded["status"] == "ok"
    assert (folded["removed"], folded["accepted"], folded["failed"]) == (2, 0, 0)
    assert folded["identifiers"] is None and folded["contact_errors"] == []
    assert folded["vendor_counts"] == {
        "result": True,
        "request_status": "completed",
        "success": 2,
        "errors": 0,
    }
    assert totals.to_dict() == {
        "requests": 1,
        "completed": 1,
        "unknown": 0,
        "timed_out": 0,
        "accepted": 2,
        "removed": 2,
        "failed": 0,
        "contact_errors": 0,
        "batches_failed": 0,
    }


def test_partial_errors_keep_the_human_error_and_list_the_failed_identifiers():
    record = accepted_record(3, A, emails=["ok@x.com", "gone@x.com", "silent@x.com"], user_ids=["u1"])
    statuses = {
        A: status(
            A,
            successes=[contact("ok@x.com"), contact(user_id="u1")],
            errors=[
                (contact("gone@x.com", contact_id=None), "contact not found", "Contact not found in list")
            ],
        )
    }

    [folded], totals = fold_outcomes([record], statuses)

    assert folded["status"] == "partial"
    assert (folded["removed"], folded["accepted"], folded["failed"]) == (2, 0, 2)
    assert folded["identifiers"] == {"emails": ["gone@x.com", "silent@x.com"]}
    assert folded["contact_errors"] == [
        {
            "kind": "emails",
            "identifier": "gone@x.com",
            "reason": "Contact not found in list",
            "vendor_error": "contact not found",
        },
        {"kind": "emails", "identifier": "silent@x.com", "reason": REASON_NO_OUTCOME, "vendor_error": None},
    ]
    assert folded["error"] == (
        "Wooxy request completed: 2 of 4 identifier(s) failed: Contact not found in list (1); "
        "no outcome reported (1)"
    )
    assert (totals.removed, totals.failed, totals.contact_errors, totals.batches_failed) == (2, 2, 1, 1)
    assert identity_holds(folded)


def test_matching_is_case_insensitive_on_email_and_exact_on_phone_and_user_id():
    record = accepted_record(
        0, A, emails=["mixed@x.com"], phone_numbers=["+31600000001"], user_ids=["User-1", "user-2"]
    )
    statuses = {
        A: status(
            A,
            successes=[
                contact("MIXED@X.com"),
                contact(phone="+31 600000001"),  # not the number sent: no match
                contact(user_id="user-1"),  # case differs: not the id sent
                contact(user_id="user-2"),
            ],
        )
    }

    [folded], _ = fold_outcomes([record], statuses)

    assert folded["removed"] == 2
    assert folded["identifiers"] == {"phone_numbers": ["+31600000001"], "user_ids": ["User-1"]}
    assert "Wooxy reported 2 contact(s) not sent in this batch" in folded["note"]


def test_one_contact_object_can_confirm_every_identifier_it_carries():
    record = accepted_record(0, A, emails=["a@x.com"], phone_numbers=["+31600000001"])
    statuses = {A: status(A, successes=[contact("a@x.com", "+31600000001", "u1")])}

    [folded], _ = fold_outcomes([record], statuses)

    assert (folded["removed"], folded["failed"], folded["status"]) == (2, 0, "ok")


def test_an_identifier_reported_both_removed_and_failed_counts_as_failed():
    record = accepted_record(0, A, emails=["a@x.com"])
    statuses = {A: status(A, successes=[contact("a@x.com")], errors=[(contact("a@x.com"), "x", "Try again")])}

    [folded], _ = fold_outcomes([record], statuses)

    assert (folded["removed"], folded["failed"]) == (0, 1)


def test_a_final_failed_status_that_names_nobody_fails_every_identifier():
    record = accepted_record(0, A, emails=["a@x.com", "b@x.com"])

    [folded], _ = fold_outcomes([record], {A: status(A, "failed")})

    assert (folded["removed"], folded["failed"], folded["status"]) == (0, 2, "partial")
    assert [item["reason"] for item in folded["contact_errors"]] == [REASON_NO_OUTCOME] * 2
    assert folded["error"].startswith("Wooxy request failed: 2 of 2 identifier(s) failed")


def test_an_unknown_request_id_fails_the_whole_batch_and_keeps_its_identifiers():
    record = accepted_record(0, A, emails=["a@x.com", "b@x.com"])

    [folded], totals = fold_outcomes([record], {}, unknown_ids=[A])

    assert folded["status"] == "failed"
    assert (folded["removed"], folded["accepted"], folded["failed"]) == (0, 0, 2)
    assert folded["error"] == REASON_UNKNOWN
    assert folded["identifiers"] == {"emails": ["a@x.com", "b@x.com"]}
    assert (totals.unknown, totals.failed, totals.removed) == (1, 2, 0)


def test_a_timed_out_request_fails_the_whole_batch_with_its_last_status():
    record = accepted_record(0, A, emails=["a@x.com"])

    [folded], totals = fold_outcomes([record], {A: status(A, "queued")}, timed_out_ids=[A])

    assert folded["status"] == "failed" and folded["failed"] == 1 and folded["accepted"] == 0
    assert folded["error"] == f"{REASON_TIMEOUT} (last status: queued)"
    assert totals.timed_out == 1


def test_a_status_that_is_not_final_is_never_folded_as_an_outcome():
    records = [accepted_record(0, A, emails=["a@x.com"]), accepted_record(1, B, emails=["b@x.com"])]
    statuses = {A: status(A, "processing", successes=[contact("a@x.com")])}

    folded, totals = fold_outcomes(records, statuses)

    assert [record["removed"] for record in folded] == [0, 0]
    assert [record["error"] for record in folded] == [
        f"{REASON_TIMEOUT} (last status: processing)",
        REASON_TIMEOUT,
    ]
    assert totals.timed_out == 2


def test_records_with_nothing_accepted_are_left_alone():
    failed = BatchResult(0, 2, "failed", {"emails": 2}, failed=2, error="HTTP 500").to_dict()
    planned = BatchResult(1, 5, "planned", {"emails": 5}).to_dict()
    synchronous = BatchResult(2, 3, "ok", {"emails": 3}, removed=3, request_id="req-x").to_dict()

    folded, totals = fold_outcomes([failed, planned, synchronous], {}, unknown_ids=["req-x"])

    assert folded == [failed, planned, synchronous]
    assert totals.requests == 0


def test_without_the_batch_identifiers_the_outcome_is_counted_from_wooxy_report():
    record = accepted_record(0, A, keep=False, emails=["a@x.com", "b@x.com", "c@x.com"])
    statuses = {A: status(A, successes=[contact("a@x.com")], errors=[(contact("b@x.com"), "e", "Nope")])}

    [folded], _ = fold_outcomes([record], statuses)

    assert (folded["removed"], folded["failed"], folded["accepted"]) == (1, 2, 0)
    assert folded["identifiers"] == {"emails": ["b@x.com"]}
    assert "counted from Wooxy's report" in folded["note"]
    assert "1 failed identifier(s) were not named by Wooxy" in folded["note"]


def test_more_successes_than_accepted_never_count_more_removals_than_sent():
    record = accepted_record(0, A, keep=False, emails=["a@x.com"])
    statuses = {A: status(A, successes=[contact("a@x.com"), contact("b@x.com")])}

    [folded], _ = fold_outcomes([record], statuses)

    assert (folded["removed"], folded["failed"]) == (1, 0)


def test_folding_does_not_modify_its_input():
    records = [accepted_record(0, A, emails=["a@x.com"])]
    before = copy.deepcopy(records)

    fold_outcomes(records, {A: status(A, errors=[(contact("a@x.com"), "e", "Nope")])})

    assert records == before


def test_status_dicts_and_status_objects_fold_the_same():
    record = accepted_record(0, A, emails=["a@x.com", "b@x.com"])
    as_object = status(A, successes=[contact("a@x.com")], errors=[(contact("b@x.com"), "e", "Nope")])

    from_object, _ = fold_outcomes([record], {A: as_object})
    from_dict, _ = fold_outcomes([record], {A: json.loads(json.dumps(status_to_dict(as_object)))})

    assert from_object == from_dict


# The summary ----------------------------------------------------------------------------------------
def operator_summary(records, invalid=0, duplicates=0) -> dict:
    summary = RemovalSummary(vendor="wooxy", operation="remove_from_list", list_id="L1", invalid=invalid)
    summary.duplicates = duplicates
    summary.confirmation = "asynchronous"
    for record in records:
        summary.add(BatchResult(**record))
    summary.requested = summary.accounted
    return summary.to_dict()


def test_the_operator_summary_gets_the_fold_moves_and_keeps_invalid_and_duplicates():
    records = [
        accepted_record(0, A, emails=["a@x.com", "b@x.com"]),
        accepted_record(1, B, emails=["c@x.com"]),
    ]
    summary = operator_summary(records, invalid=4, duplicates=1)
    statuses = {A: status(A, successes=[contact("a@x.com")], errors=[(contact("b@x.com"), "e", "Nope")])}

    folded, totals = fold_outcomes(records, statuses, unknown_ids=[B])
    result = folded_summary(summary, folded, totals)

    assert result["requested"] == 8
    assert (result["removed"], result["accepted"], result["failed"]) == (1, 0, 2)
    assert (result["invalid"], result["duplicates"], result["list_id"]) == (4, 1, "L1")
    assert (result["batches"], result["batches_failed"]) == (2, 2)
    assert result == folded_summary(summary, folded)  # the same when recomputed from every record


def test_the_summary_stays_right_when_only_some_records_are_given():
    records = [accepted_record(0, A, emails=["a@x.com"]), accepted_record(1, B, emails=["b@x.com"])]
    summary = operator_summary(records)

    folded, totals = fold_outcomes(records[:1], {A: status(A, successes=[contact("a@x.com")])})
    result = folded_summary(summary, folded, totals)

    assert (result["requested"], result["removed"], result["accepted"]) == (2, 1, 1)


def test_without_a_summary_one_is_built_from_the_records():
    records = [accepted_record(0, A, emails=["a@x.com", "b@x.com"])]
    folded, _ = fold_outcomes(records, {A: status(A, successes=[contact("a@x.com")])})

    result = folded_summary(None, folded)

    assert (result["vendor"], result["requested"], result["removed"], result["failed"]) == ("wooxy", 2, 1, 1)


# The poll state -------------------------------------------------------------------------------------
def test_the_poll_state_sorts_ids_and_round_trips_through_json():
    state = WooxyPollState.from_statuses(
        [A, B, C, A], {A: status(A), B: "queued", "stranger": "completed"}, unknown_ids=[C, "other"]
    )

    assert state.request_ids == [A, B, C]
    assert (state.final_ids, state.pending_ids, state.unknown_ids) == ([A], [B], [C])
    assert not state.done and state.outcome == "timeout"
    event = json.loads(json.dumps(state.to_event()))
    assert event["final_ids"] == [A] and event["pending_ids"] == [B] and event["statuses"][A] == "completed"
    assert WooxyPollState.from_event(event) == state


def test_the_poll_state_description_names_no_request_id():
    state = WooxyPollState.from_statuses([A, B, C], {A: "completed", B: "queued"}, unknown_ids=[C])

    text = state.describe()

    assert (
        text
        == "3 Wooxy request(s): 1 final, 1 request id unknown or older than 7 days, 1 pending (queued: 1)"
    )
    assert A not in text


@pytest.mark.parametrize("event", [None, [], {"statuses": {}}])
def test_a_malformed_event_is_refused(event):
    with pytest.raises(ValueError, match="not a Wooxy poll state"):
        WooxyPollState.from_event(event)


# Request ids ----------------------------------------------------------------------------------------
def test_request_ids_come_from_ids_or_from_the_accepted_batch_records():
    records = [
        accepted_record(0, A, emails=["a@x.com"]),
        BatchResult(1, 1, "failed", {"emails": 1}, failed=1).to_dict(),
        accepted_record(2, B, emails=["b@x.com"]),
        accepted_record(3, A, emails=["c@x.com"]),
    ]

    assert request_ids_from(records) == [A, B]
    assert request_ids_from([A, B, A]) == [A, B]
    assert request_ids_from(A) == [A]
    assert request_ids_from(None) == []


def test_request_ids_rendered_by_a_template_as_a_string_are_read_back():
    records = [accepted_record(0, A, emails=["a@x.com"])]

    assert request_ids_from(json.dumps([A, B])) == [A, B]
    assert request_ids_from(str(records)) == [A]  # Jinja without native rendering gives a Python literal


@pytest.mark.parametrize("value", [[A, 3], [""], "[unclosed"])
def test_bad_request_ids_are_refused(value):
    with pytest.raises(ValueError):
        request_ids_from(value)


# A whole wait ---------------------------------------------------------------------------------------
def test_complete_rebuilds_records_for_ids_given_without_batch_records():
    state = WooxyPollState.from_statuses([A, B, C], {A: status(A), C: "queued"}, unknown_ids=[B])
    statuses = {A: status(A, successes=[contact("a@x.com")], errors=[(contact("b@x.com"), "e", "Nope")])}
    state.timed_out = True

    completion = complete(None, None, state, statuses)

    first, second, third = completion.records()
    assert (first["size"], first["removed"], first["failed"], first["status"]) == (2, 1, 1, "partial")
    assert first["identifiers"] == {"emails": ["b@x.com"]}
    assert (second["size"], second["status"], second["error"]) == (0, "failed", REASON_UNKNOWN)
    assert (third["size"], third["status"], third["error"]) == (0, "failed", REASON_TIMEOUT)
    assert (completion.totals.requests, completion.totals.unknown, completion.totals.timed_out) == (3, 1, 1)
    assert completion.summary["requested"] == 2 and completion.summary["batches_failed"] == 3
    assert completion.timed_out
    # The log says what the summary counts: partial batches are batches with failures too.
    assert "3 batch(es) with failures (failed or partial)" in completion.message()


def test_complete_counts_a_final_request_that_vanished_since_as_unknown():
    records = [accepted_record(0, A, emails=["a@x.com"])]
    state = WooxyPollState.from_statuses([A], {A: "completed"})

    completion = complete(records, None, state, statuses={})

    assert completion.records()[0]["error"] == REASON_UNKNOWN
    assert completion.totals.unknown == 1


def test_complete_reports_a_read_error_rather_than_a_timeout():
    records = [accepted_record(0, A, emails=["a@x.com"])]
    state = WooxyPollState.from_statuses([A], {A: "queued"})
    state.error = "wooxy: Invalid authorization token! (HTTP 401, 1 attempt)"

    completion = complete(records, None, state, statuses={})

    assert completion.records()[0]["error"].startswith("could not read Wooxy's status: wooxy: Invalid")
    assert not completion.timed_out
    assert "could not read the status" in completion.message()


# The accounting identity, whatever Wooxy says ----------------------------------------------------------
OUTCOMES = st.sampled_from(["success", "error", "silent", "both"])
FATES = st.sampled_from(["completed", "failed", "queued", "unknown", "timed_out"])


@st.composite
def runs(draw):
    batches = draw(st.integers(min_value=1, max_value=6))
    records, statuses, unknown, timed_out = [], {}, [], []
    counter = 0
    for index in range(batches):
        request_id = f"{index:024x}"
        emails = [f"user{counter + i}@x.com" for i in range(draw(st.integers(0, 8)))]
        users = [f"User-{counter + i}" for i in range(draw(st.integers(0, 4)))]
        counter += len(emails) + len(users)
        if not emails and not users:
            records.append(BatchResult(index, 0, "ok", {}).to_dict())
            continue
        keep = draw(st.booleans())
        record = accepted_record(index, request_id, keep=keep, emails=emails, user_ids=users)
        if draw(st.booleans()):  # a shortfall the operator already counted as failed
            record["accepted"] -= 1
            record["failed"] += 1
            record["status"] = "partial"
        records.append(record)
        fate = draw(FATES)
        if fate == "unknown":
            unknown.append(request_id)
            continue
        if fate == "timed_out":
            timed_out.append(request_id)
        successes, errors = [], []
        for value in emails + users:
            item = contact(value.upper()) if "@" in value else contact(user_id=value)
            outcome = draw(OUTCOMES)
            if outcome in ("success", "both"):
                successes.append(item)
            if outcome in ("error", "both"):
                errors.append((item, "processing_failed", "Try again later"))
        if draw(st.booleans()):
            successes.append(contact("stranger@x.com"))
        statuses[request_id] = status(
            request_id, fate if fate != "timed_out" else "queued", successes, errors
        )
    return records, statuses, unknown, timed_out


@settings(max_examples=300, deadline=None)
@given(runs())
def test_folding_keeps_the_accounting_identity(run):
    records, statuses, unknown, timed_out = run
    summary = operator_summary(records, invalid=2, duplicates=1)

    folded, totals = fold_outcomes(records, statuses, unknown, timed_out)
    result = folded_summary(summary, folded, totals)

    assert all(identity_holds(record) for record in folded)
    assert all(record["accepted"] == 0 for record in folded)
    assert totals.accepted == totals.removed + totals.failed == sum(record["accepted"] for record in records)
    assert result["accepted"] == 0
    assert result == folded_summary(summary, folded)
    # Nothing is removed unless Wooxy said so for that very identifier.
    for before, after in zip(records, folded, strict=True):
        if before["accepted"] and before["request_id"] in statuses and before["request_id"] not in unknown:
            reported = statuses[before["request_id"]]
            assert after["removed"] <= len(reported.successes)
        if before["accepted"] and (before["request_id"] in unknown or before["request_id"] in timed_out):
            assert after["removed"] == before["removed"] and after["status"] == "failed"
        if after["status"] == "ok":
            assert after["identifiers"] is None
    json.dumps(folded)  # plain JSON, ready for XCom
