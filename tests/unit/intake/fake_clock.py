"""A monotonic clock the test moves by hand (for the rate limiter and the TTL cache)."""


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now
