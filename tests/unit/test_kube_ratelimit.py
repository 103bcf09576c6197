"""The API request limit (shared/kube/ratelimit.py), on a clock the test moves."""

import threading

import pytest

from shared.kube.ratelimit import TokenBucket


class Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def bucket(qps: float, burst: int, clock: Clock) -> TokenBucket:
    return TokenBucket(qps=qps, burst=burst, clock=clock, sleep=clock.sleep)


def test_a_burst_goes_at_once_then_one_request_per_interval() -> None:
    clock = Clock()
    limit = bucket(qps=10, burst=3, clock=clock)
    delays = [limit.delay() for _ in range(6)]
    assert delays[:3] == [0, 0, 0]
    assert delays[3:] == pytest.approx([0.1, 0.2, 0.3])
    assert limit.waited == pytest.approx(0.6)


def test_waiting_requests_keep_the_rate() -> None:
    clock = Clock()
    limit = bucket(qps=4, burst=1, clock=clock)
    for _ in range(9):
        limit.take()
    # 9 requests at 4 per second after the first: 2 s.
    assert clock.now - 100.0 == pytest.approx(2.0)


def test_an_idle_bucket_fills_up_to_its_burst_only() -> None:
    clock = Clock()
    limit = bucket(qps=10, burst=2, clock=clock)
    limit.delay()
    clock.now += 60  # a long pause earns no more than the burst
    assert [limit.delay() for _ in range(3)] == pytest.approx([0, 0, 0.1])


def test_a_partly_refilled_bucket_gives_what_it_earned() -> None:
    clock = Clock()
    limit = bucket(qps=10, burst=5, clock=clock)
    for _ in range(5):
        limit.delay()
    clock.now += 0.2  # two tokens back
    assert [limit.delay() for _ in range(3)] == pytest.approx([0, 0, 0.1])


def test_qps_zero_never_waits() -> None:
    clock = Clock()
    limit = bucket(qps=0, burst=1, clock=clock)
    assert all(limit.delay() == 0 for _ in range(1000))
    assert limit.waited == 0


@pytest.mark.parametrize(("qps", "burst"), [(-1, 1), (1, 0)])
def test_a_bucket_that_cannot_work_is_refused(qps: float, burst: int) -> None:
    with pytest.raises(ValueError, match="qps must be >= 0 and burst >= 1"):
        TokenBucket(qps=qps, burst=burst)


def test_threads_share_one_rate() -> None:
    clock = Clock()
    limit = bucket(qps=100, burst=10, clock=clock)
    delays: list[float] = []
    lock = threading.Lock()

    def send() -> None:
        for _ in range(25):
            wait = limit.delay()
            with lock:
                delays.append(wait)

    threads = [threading.Thread(target=send) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # The clock stood still: 10 went at once, the other 90 were given the
    # slots 10 ms apart, each once.
    assert sorted(delays) == pytest.approx([0.0] * 10 + [i / 100 for i in range(1, 91)])
