"""SLA clocks as pure functions: business hours, holidays, time zones, pauses, reopening."""

from datetime import UTC, date, datetime, timedelta

import pytest

from cases.sla import (
    BusinessHours,
    add_business_seconds,
    business_seconds,
    calendar_problems,
    sla_compute,
)

NINE_TO_FIVE = [["09:00", "17:00"]] * 5 + [None, None]
HOUR = 3600


def hours(**kw) -> BusinessHours:
    return BusinessHours.parse(time_zone=kw.pop("tz", "Europe/London"), hours=NINE_TO_FIVE, **kw)


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_business_time_counts_only_opening_hours():
    h = hours()
    # Friday 16:00 to Monday 10:00 (London is UTC in January): 1 h Friday + 1 h Monday.
    assert business_seconds(h, utc(2026, 1, 9, 16), utc(2026, 1, 12, 10)) == 2 * HOUR
    # Adding 2 business hours on Friday 16:00 lands on Monday 10:00.
    assert add_business_seconds(h, utc(2026, 1, 9, 16), 2 * HOUR) == utc(2026, 1, 12, 10)
    # Starting at night counts from the next opening.
    assert add_business_seconds(h, utc(2026, 1, 12, 3), HOUR) == utc(2026, 1, 12, 10)


def test_holidays_are_closed_all_day():
    h = hours(holidays=[date(2026, 1, 12)])
    assert add_business_seconds(h, utc(2026, 1, 9, 16), 2 * HOUR) == utc(2026, 1, 13, 10)


def test_opening_hours_follow_the_local_clock_across_daylight_saving():
    h = hours()
    # London moves to BST on 29 March 2026: 09:00 local is 09:00 UTC before, 08:00 UTC after.
    assert add_business_seconds(h, utc(2026, 3, 27, 16, 30), HOUR) == utc(2026, 3, 30, 8, 30)


def test_around_the_clock_without_a_calendar():
    start = utc(2026, 1, 9, 16)
    assert add_business_seconds(None, start, 10 * HOUR) == start + timedelta(hours=10)
    assert business_seconds(None, start, start + timedelta(hours=3)) == 3 * HOUR


def test_calendar_problems_speak_plainly():
    assert calendar_problems(time_zone="Europe/London", hours=NINE_TO_FIVE) == []
    assert "Unknown time zone" in calendar_problems(time_zone="Mars/Base", hours=NINE_TO_FIVE)[0]
    assert calendar_problems(time_zone="UTC", hours=[None] * 7) == [
        "At least one day must be open."
    ]
    assert "seven entries" in calendar_problems(time_zone="UTC", hours=[["09:00", "17:00"]])[0]
    bad = [["17:00", "09:00"]] + [None] * 6
    assert "before the closing time" in calendar_problems(time_zone="UTC", hours=bad)[0]
    assert "HH:MM" in calendar_problems(time_zone="UTC", hours=[["nine", "5"]] + [None] * 6)[0]
    assert BusinessHours.parse(time_zone="Mars/Base", hours=NINE_TO_FIVE) is None


def compute(changes=(), *, responded=None, pause=("waiting", "on_hold"), h=None, created=None):
    return sla_compute(
        created_at=created or utc(2026, 1, 5, 9),
        changes=list(changes),
        initial_status="new",
        first_responded_at=responded,
        first_response_minutes=60,
        resolution_minutes=8 * 60,
        pause_statuses=frozenset(pause),
        hours=h,
    )


def test_a_new_case_runs_both_clocks():
    state = compute()
    assert state.first_response.due_at == utc(2026, 1, 5, 10)
    assert state.first_response.risk_at == utc(2026, 1, 5, 9, 48)
    assert state.resolution.due_at == utc(2026, 1, 5, 17)
    assert state.next_due_at == utc(2026, 1, 5, 10)
    assert (state.first_response.met, state.resolution.met, state.paused) == (None, None, False)


def test_the_first_reply_stops_the_first_response_clock():
    state = compute(responded=utc(2026, 1, 5, 9, 30))
    assert state.first_response.met is True
    assert state.first_response.running is False
    assert state.next_due_at == state.resolution.due_at == utc(2026, 1, 5, 17)
    late = compute(responded=utc(2026, 1, 5, 11))
    assert late.first_response.met is False
    assert late.first_response.due_at == utc(2026, 1, 5, 10)


def test_waiting_on_the_customer_pauses_and_moves_the_due_time():
    state = compute(
        [(utc(2026, 1, 5, 10), "open"), (utc(2026, 1, 5, 11), "waiting")],
        responded=utc(2026, 1, 5, 9, 30),
    )
    assert state.paused and state.next_due_at is None
    resumed = compute(
        [
            (utc(2026, 1, 5, 10), "open"),
            (utc(2026, 1, 5, 11), "waiting"),
            (utc(2026, 1, 5, 15), "open"),
        ],
        responded=utc(2026, 1, 5, 9, 30),
    )
    # Two hours used before the pause; six left from 15:00.
    assert resumed.resolution.due_at == utc(2026, 1, 5, 21)
    assert resumed.next_due_at == utc(2026, 1, 5, 21)


def test_statuses_that_do_not_pause_keep_the_clock_running():
    state = compute([(utc(2026, 1, 5, 11), "waiting")], pause=("on_hold",))
    assert not state.paused
    assert state.resolution.due_at == utc(2026, 1, 5, 17)


def test_resolution_met_or_missed_and_reopening_resumes_the_clock():
    on_time = compute([(utc(2026, 1, 5, 12), "resolved")], responded=utc(2026, 1, 5, 9, 10))
    assert on_time.resolution.met is True and on_time.next_due_at is None
    late = compute([(utc(2026, 1, 6, 12), "resolved")], responded=utc(2026, 1, 5, 9, 10))
    assert late.resolution.met is False
    assert late.resolution.due_at == utc(2026, 1, 5, 17)
    reopened = compute(
        [(utc(2026, 1, 5, 12), "resolved"), (utc(2026, 1, 7, 9), "open")],
        responded=utc(2026, 1, 5, 9, 10),
    )
    # Three hours used before resolving; the two days resolved do not count.
    assert reopened.resolution.met is None
    assert reopened.resolution.due_at == utc(2026, 1, 7, 14)


def test_resolving_without_a_reply_stops_the_first_response_clock_for_good():
    state = compute([(utc(2026, 1, 5, 9, 20), "resolved"), (utc(2026, 1, 6, 9), "open")])
    assert state.first_response.met is True
    assert state.first_response.running is False
    assert state.next_due_at == state.resolution.due_at


@pytest.mark.parametrize("tz", ["Europe/London", "America/New_York", "Asia/Tokyo"])
def test_business_hours_clock_in_the_teams_time_zone(tz):
    h = hours(tz=tz)
    # Created at the team's 08:00 local on a Monday: the first response is due at 10:00 local.
    from zoneinfo import ZoneInfo

    created = datetime(2026, 1, 5, 8, tzinfo=ZoneInfo(tz)).astimezone(UTC)
    state = compute(h=h, created=created)
    due = state.first_response.due_at.astimezone(ZoneInfo(tz))
    assert (due.date(), due.hour, due.minute) == (date(2026, 1, 5), 10, 0)
