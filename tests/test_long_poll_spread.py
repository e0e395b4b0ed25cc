"""Long-polls that run out do not all come back together: a wait of `Prefer: wait=N` that sees no
change ends somewhere in N's last fifth (N is an upper bound, RFC 7240), so clients that opened their
waits together (a reconnect after a restart) drift apart with every round instead of renewing in one
wave. The bound itself, through the server: `test_long_poll.py::test_long_poll_gives_up_after_n_seconds…`."""

from imagetasks.api.waiting import wait_spread


def test_a_wait_that_runs_out_ends_in_the_last_fifth_of_n_and_not_at_one_moment():
    waits = [wait_spread(60) for _ in range(2000)]
    assert all(48 <= wait <= 60 for wait in waits)
    # spread over the fifth, not one value: 2,000 draws of a uniform fall in each of its quarters
    quarters = {min(3, int((wait - 48) // 3)) for wait in waits}
    assert quarters == {0, 1, 2, 3}


def test_no_wait_stays_no_wait():
    assert wait_spread(0) == 0
