"""Batches never exceed the limit, keep every identifier, and run within the concurrency cap."""

from __future__ import annotations

import gc
import threading
import time
import weakref

import pytest

from airflow_contact_removal.batching import ProgressLog, make_batches, run_concurrently


def test_single_kind_is_cut_at_the_limit():
    batches = list(make_batches({"emails": [f"{i}@x.com" for i in range(250)]}, 100, mix_kinds=True))
    assert [batch.size for batch in batches] == [100, 100, 50]
    assert [batch.index for batch in batches] == [0, 1, 2]


def test_mixed_kinds_share_the_limit():
    streams = {"emails": ["e"] * 150, "phone_numbers": ["p"] * 30, "user_ids": ["u"] * 40}
    batches = list(make_batches(streams, 100, mix_kinds=True))
    assert [batch.size for batch in batches] == [100, 100, 20]
    assert batches[1].kinds == {"emails": 50, "phone_numbers": 30, "user_ids": 20}
    assert sum(batch.size for batch in batches) == 220


def test_unmixed_kinds_get_their_own_batches():
    streams = {"emails": ["e"] * 150, "contact_ids": ["c"] * 30}
    batches = list(make_batches(streams, 100, mix_kinds=False))
    assert [batch.kinds for batch in batches] == [{"emails": 100}, {"emails": 50}, {"contact_ids": 30}]


def test_empty_input_makes_no_batch():
    assert list(make_batches({"emails": []}, 100, mix_kinds=True)) == []


@pytest.mark.parametrize("size", [0, -1])
def test_batch_size_below_one_is_refused(size):
    with pytest.raises(ValueError):
        list(make_batches({"emails": ["a"]}, size, mix_kinds=True))


def test_concurrency_never_exceeds_max_workers_and_every_batch_is_sent():
    in_flight = 0
    peak = 0
    lock = threading.Lock()

    def send(batch):
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        time.sleep(0.005)
        with lock:
            in_flight -= 1
        return batch.index

    done = []
    batches = make_batches({"emails": [str(i) for i in range(400)]}, 10, mix_kinds=True)
    run_concurrently(batches, send, max_workers=4, on_done=lambda batch, result: done.append(result))
    assert sorted(done) == list(range(40))
    assert 1 < peak <= 4


def test_lazy_input_is_not_read_far_ahead_of_the_senders():
    pulled = 0

    def batches():
        nonlocal pulled
        for batch in make_batches({"emails": [str(i) for i in range(1000)]}, 1, mix_kinds=True):
            pulled += 1
            yield batch

    seen_ahead = []

    def send(batch):
        seen_ahead.append(pulled - batch.index)
        return None

    run_concurrently(batches(), send, max_workers=3, on_done=lambda batch, result: None)
    assert max(seen_ahead) <= 3 * 2 + 1


class _Node:
    """An object that can hold a reference cycle and be weakly referenced."""


def test_a_run_keeps_full_collections_off_older_objects_and_gives_them_back():
    garbage = _Node()
    garbage.self = garbage  # a reference cycle only the collector can free
    collected = weakref.ref(garbage)
    del garbage
    frozen_before = gc.get_freeze_count()
    frozen_during = []

    def send(batch):
        frozen_during.append(gc.get_freeze_count())
        gc.collect()  # a full collection during the run does not reach the frozen objects
        return None

    batches = make_batches({"emails": ["a", "b", "c"]}, 1, mix_kinds=True)
    run_concurrently(batches, send, max_workers=2, on_done=lambda batch, result: None)
    assert min(frozen_during) > frozen_before
    assert collected() is not None  # it existed before the run: frozen, so not collected during it
    assert gc.get_freeze_count() == frozen_before
    gc.collect()
    assert collected() is None  # given back to the collector: nothing leaks


def test_progress_log_reports_counts_rate_and_eta(caplog):
    now = [0.0]
    progress = ProgressLog(10, 1000, interval=10, clock=lambda: now[0])
    with caplog.at_level("INFO"):
        now[0] = 5.0
        progress.record(100, failed=False)
        assert not caplog.records  # not yet 10 s
        now[0] = 10.0
        progress.record(100, failed=True)
    message = caplog.records[-1].getMessage()
    assert "batches 2/10" in message and "contacts 200/1000" in message
    assert "1 failed" in message and "20 contacts/s" in message and "ETA 40 s" in message


def test_an_interrupt_abandons_what_is_in_flight_and_hands_every_batch_over_once():
    from airflow_contact_removal.stopping import StopSignal

    release = threading.Event()
    stop = StopSignal()
    started = threading.Semaphore(0)

    def send(batch):
        started.release()
        release.wait(30)  # a vendor that never answers
        return ("sent", batch.index)

    handed: list[tuple[int, object]] = []

    def not_sent(batch, reason, in_flight):
        return ("abandoned" if in_flight else "not sent", reason)

    batches = make_batches({"emails": [str(i) for i in range(1000)]}, 10, mix_kinds=True)

    def kill_when_all_senders_wait():
        for _ in range(3):
            started.acquire(timeout=10)
        stop.stop("killed", interrupt=True)

    threading.Thread(target=kill_when_all_senders_wait).start()
    begun = time.monotonic()
    run_concurrently(
        batches,
        send,
        max_workers=3,
        on_done=lambda batch, result: handed.append((batch.index, result)),
        stop=stop,
        not_sent=not_sent,
        abandon_after=0.5,
    )
    took = time.monotonic() - begun
    release.set()
    assert took < 10  # not joined with the senders stuck in their requests
    indexes = [index for index, _ in handed]
    assert len(indexes) == len(set(indexes))  # each batch once
    assert sorted(indexes) == list(range(len(indexes)))  # none taken and lost
    kinds = [result[0] for _, result in handed]
    assert kinds.count("abandoned") == 3 and "sent" not in kinds
    assert all(result[1] == "killed" for _, result in handed)
    assert len(indexes) <= 3 + 3 * 2 + 1  # the input was not read on after the interrupt


def test_an_exception_in_the_calling_thread_is_raised_after_every_batch_was_handed_over():
    from airflow_contact_removal.stopping import StopSignal

    handed = []

    def on_done(batch, result):
        handed.append(batch.index)
        if batch.index == 2:
            raise KeyboardInterrupt  # like Airflow's AirflowTaskTimeout, raised by a signal

    batches = make_batches({"emails": [str(i) for i in range(1000)]}, 10, mix_kinds=True)
    stop = StopSignal()
    with pytest.raises(KeyboardInterrupt):
        run_concurrently(
            batches,
            lambda batch: "sent",
            max_workers=2,
            on_done=on_done,
            stop=stop,
            not_sent=lambda batch, reason, in_flight: "not sent",
            abandon_after=1,
        )
    assert stop.interrupt and "KeyboardInterrupt" in stop.reason
    assert sorted(handed) == list(range(len(handed)))
    assert len(handed) < 100


def test_progress_log_counts_resumed_batches_apart_from_the_rate(caplog):
    """A resumed try: checkpointed batches count as done, but the rate is only what was sent now."""
    now = [0.0]
    progress = ProgressLog(10, 1000, interval=10, clock=lambda: now[0])
    with caplog.at_level("INFO"):
        for _ in range(5):
            progress.record(100, failed=False, resumed=True)  # taken from the checkpoint at once
        now[0] = 10.0
        progress.record(100, failed=False)
    message = caplog.records[-1].getMessage()
    assert "batches 6/10" in message and "contacts 600/1000" in message
    assert "5 batch(es), 500 contacts resumed from the checkpoint, 100 sent in this try" in message
    assert "10 contacts/s" in message and "ETA 40 s" in message


def test_progress_log_says_when_totals_are_estimated(caplog):
    now = [0.0]
    progress = ProgressLog(2, 150, interval=1, clock=lambda: now[0], estimate="from the input file's lines")
    with caplog.at_level("INFO"):
        now[0] = 1.0
        progress.record(100, failed=False)
        now[0] = 2.0
        progress.record(100, failed=False)  # more than the estimate: never shown as 200/~150
        progress.log_line(final=True)
    lines = [record.getMessage() for record in caplog.records]
    assert "contacts 100/~150" in lines[0] and "(totals estimated from the input file's lines)" in lines[0]
    assert "contacts 200/~200" in lines[1]
    assert lines[2].startswith("Done: batches 2, contacts 200,")
