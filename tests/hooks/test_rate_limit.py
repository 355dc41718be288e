"""RateLimiter on a fake clock: spacing, the shared pause a 429 causes, and thread safety."""

from __future__ import annotations

import sys
import threading

import pytest

from airflow_contact_removal.hooks.rate_limit import RATE_WINDOW_MARGIN, RateLimiter, RateWindow


class FakeClock:
    """A monotonic clock that only moves when someone sleeps (or the test moves it)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)


def advancing(clock: FakeClock):
    """A sleep that records the wait and moves the clock by it (one caller at a time)."""

    def sleep(seconds: float) -> None:
        clock.sleeps.append(seconds)
        clock.now += seconds

    return sleep


def test_first_request_never_waits():
    clock = FakeClock()
    limiter = RateLimiter(2, clock=clock, sleep=clock.sleep)

    assert limiter.acquire() == 0
    assert clock.sleeps == []


def test_two_per_second_spaces_starts_half_a_second_apart():
    clock = FakeClock()
    limiter = RateLimiter(2, clock=clock, sleep=advancing(clock), window_margin=0)

    starts = []
    for _ in range(4):
        limiter.acquire()
        starts.append(clock.now)

    assert starts == [0.0, 0.5, 1.0, 1.5]
    assert clock.sleeps == [0.5, 0.5, 0.5]


def test_starts_leave_a_margin_for_jitter_at_the_vendors_one_second_window():
    """
    Requests exactly 1/rate apart can arrive closer together and put rate + 1 into one of the
    vendor's windows: the default spacing is (1 s + margin) / rate, so 2/s sends 0.55 s apart.
    """
    clock = FakeClock()
    limiter = RateLimiter(2, clock=clock, sleep=advancing(clock))

    starts = []
    for _ in range(3):
        limiter.acquire()
        starts.append(clock.now)

    assert RATE_WINDOW_MARGIN == 0.1
    assert starts == pytest.approx([0.0, 0.55, 1.1])
    # Any two requests of one second's worth may drift up to the margin and still fit in one window.
    assert starts[2] - starts[0] - 1.0 == pytest.approx(RATE_WINDOW_MARGIN)


def test_time_already_elapsed_counts_towards_the_spacing():
    clock = FakeClock()
    limiter = RateLimiter(2, clock=clock, sleep=clock.sleep, window_margin=0)

    limiter.acquire()
    clock.now = 0.3
    assert limiter.acquire() == pytest.approx(0.2)
    clock.now = 5.0
    assert limiter.acquire() == 0


@pytest.mark.parametrize("rate", [None, 0])
def test_no_rate_means_no_spacing(rate):
    clock = FakeClock()
    limiter = RateLimiter(rate, clock=clock, sleep=clock.sleep)

    assert [limiter.acquire() for _ in range(5)] == [0, 0, 0, 0, 0]
    assert limiter.requests_per_second is None
    assert clock.sleeps == []


def test_negative_rate_is_refused():
    with pytest.raises(ValueError, match="positive"):
        RateLimiter(-1)


def test_pause_delays_the_next_acquire_of_another_caller():
    clock = FakeClock()
    limiter = RateLimiter(None, clock=clock, sleep=clock.sleep)
    waited = []

    limiter.pause(3)  # caller A was told "retry after 3 s"
    other = threading.Thread(target=lambda: waited.append(limiter.acquire()))  # caller B
    other.start()
    other.join()

    assert waited == [3.0]
    assert clock.sleeps == [3.0]


def test_pause_counts_from_when_it_was_asked_and_ends():
    clock = FakeClock()
    limiter = RateLimiter(None, clock=clock, sleep=clock.sleep)

    clock.now = 10.0
    limiter.pause(3)
    clock.now = 12.0
    assert limiter.acquire() == pytest.approx(1.0)
    clock.now = 20.0
    assert limiter.acquire() == 0


def test_a_shorter_pause_never_shortens_a_longer_one():
    clock = FakeClock()
    limiter = RateLimiter(None, clock=clock, sleep=clock.sleep)

    limiter.pause(5)
    limiter.pause(1)

    assert limiter.acquire() == 5.0


@pytest.mark.parametrize("seconds", [0, -3])
def test_zero_or_negative_pause_does_nothing(seconds):
    clock = FakeClock()
    limiter = RateLimiter(None, clock=clock, sleep=clock.sleep)

    limiter.pause(seconds)

    assert limiter.acquire() == 0


def test_pause_and_rate_combine():
    clock = FakeClock()
    limiter = RateLimiter(2, clock=clock, sleep=clock.sleep, window_margin=0)

    limiter.pause(3)

    assert [limiter.acquire() for _ in range(3)] == [3.0, 3.5, 4.0]


@pytest.fixture
def frequent_thread_switches():
    """Switch threads as often as possible, so an unlocked read-then-write would collide."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(previous)


@pytest.mark.usefixtures("frequent_thread_switches")
def test_threads_reserve_distinct_slots():
    clock = FakeClock()
    limiter = RateLimiter(4, clock=clock, sleep=clock.sleep, window_margin=0)
    threads, per_thread = 8, 1000
    barrier = threading.Barrier(threads)
    delays: list[float] = []
    delays_lock = threading.Lock()

    def sender():
        barrier.wait()
        for _ in range(per_thread):
            delay = limiter.acquire()
            with delays_lock:
                delays.append(delay)

    workers = [threading.Thread(target=sender) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    # The clock never moves, so slot n starts n/4 s from now: every caller got its own slot.
    total = threads * per_thread
    assert sorted(delays) == [n * 0.25 for n in range(total)]


def test_a_turn_taken_before_a_pause_is_taken_again_after_it_spaced_like_any_other():
    """A 429 while callers sleep towards their turns: they go after the pause, not all at its end."""
    clock = FakeClock()
    limiter = RateLimiter(2, clock=clock, sleep=clock.sleep, window_margin=0)
    limiter.acquire()  # turn at 0; the next free turn is 0.5
    told = []

    def sleep_and_be_told_to_wait(seconds: float) -> None:
        clock.sleep(seconds)
        if not told:  # while the second caller sleeps, the first is answered 429 "retry after 3 s"
            told.append(seconds)
            limiter.pause(3)

    limiter._sleep = sleep_and_be_told_to_wait

    assert limiter.acquire() == pytest.approx(3.0)  # its turn at 0.5 was void: a new one at 3.0
    assert limiter.acquire() == pytest.approx(3.5)  # and the next is spaced after it, not also at 3.0


def test_a_pause_ending_before_a_turn_leaves_the_turn_as_it_was():
    clock = FakeClock()
    limiter = RateLimiter(2, clock=clock, sleep=clock.sleep, window_margin=0)
    limiter.acquire()
    limiter.acquire()  # turn at 0.5
    limiter.pause(0.2)

    assert limiter.acquire() == pytest.approx(1.0)


def test_a_late_request_counted_in_the_next_window_holds_the_next_turn_until_that_window_ends():
    """
    One request a second (a task's share): a request delayed on its way is counted in a window that
    ends 1.5 s from now, so the next one, due in 1.1 s, would land in that window too.
    """
    clock = FakeClock()
    limiter = RateLimiter(1, clock=clock, sleep=clock.sleep)
    limiter.acquire()

    limiter.counted(RateWindow(ends="1796180002", seconds_left=1.5, remaining=1))

    assert limiter.acquire() == pytest.approx(1.5)


def test_the_windows_share_is_the_rate_a_second():
    clock = FakeClock()
    limiter = RateLimiter(2, clock=clock, sleep=clock.sleep, window_margin=0)
    limiter.acquire()
    limiter.counted(RateWindow(ends="100", seconds_left=1.4, remaining=1))
    assert limiter.acquire() == pytest.approx(0.5)  # one of its two in this window: spacing only

    limiter.counted(RateWindow(ends="100", seconds_left=1.4, remaining=1))
    assert limiter.acquire() == pytest.approx(1.4)  # both of its share: the next waits for the end
    limiter.counted(RateWindow(ends="101", seconds_left=2.5, remaining=1))
    assert limiter.acquire() == pytest.approx(1.9)  # a new window: counted from zero


def test_a_window_the_key_has_used_up_holds_even_a_limiter_without_a_rate():
    """Other clients of the key (outside this run's pool) used the window: the answer says 0 left."""
    clock = FakeClock()
    limiter = RateLimiter(None, clock=clock, sleep=clock.sleep)

    limiter.counted(RateWindow(ends="100", seconds_left=0.7, remaining=3))
    assert limiter.acquire() == 0
    limiter.counted(RateWindow(ends="100", seconds_left=0.6, remaining=0))
    assert limiter.acquire() == pytest.approx(0.6)
