"""The sign-in brake counts failures per address within a window and forgets them after a success."""

from mcp_agent_mail.web.signin_throttle import SignInThrottle


def test_an_address_waits_only_after_enough_failures_and_only_within_the_window():
    throttle = SignInThrottle(max_failures=3, window=60)
    for second in (0, 1, 2):
        assert throttle.wait_seconds("10.0.0.1", now=second) == 0
        throttle.failed("10.0.0.1", now=second)
    assert throttle.wait_seconds("10.0.0.1", now=3) == 57  # until the first failure leaves the window
    assert throttle.wait_seconds("10.0.0.2", now=3) == 0  # another address is not braked
    assert throttle.wait_seconds("10.0.0.1", now=60) == 0  # the first failure has aged out


def test_a_success_forgets_the_failures():
    throttle = SignInThrottle(max_failures=2, window=60)
    throttle.failed("10.0.0.1", now=0)
    throttle.succeeded("10.0.0.1")
    throttle.failed("10.0.0.1", now=1)
    assert throttle.wait_seconds("10.0.0.1", now=2) == 0
