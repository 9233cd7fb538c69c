"""SLA clocks: business time and due times, computed from a case's own history.

Pure functions (no database): ``cases.services`` loads the policy, the team's calendar and
the case's status changes, and calls ``sla_compute``. A clock runs while the case is in a
status that neither pauses it (the policy's ``pause_statuses``) nor ends it (resolved,
closed), and only counts the team's business hours; holidays are closed all day.

- first response: runs from creation until the first reply (or resolution);
- resolution: runs from creation until resolved; reopening resumes it.

Each clock yields its due time (when the target is used up; while paused there is none),
its risk time (when ``risk_share`` of the target is used, 80% by default), and, once it
stopped, whether the target was met.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DONE = frozenset({"resolved", "closed"})
MAX_DAYS = 3660  # a target never reaches further than ten years of business days


@dataclass(frozen=True)
class BusinessHours:
    """Opening hours per weekday (Monday first; None = closed) in ``tz``, and holidays."""

    tz: ZoneInfo
    week: tuple[tuple[time, time] | None, ...]
    holidays: frozenset[date] = frozenset()

    @classmethod
    def parse(cls, *, time_zone: str, hours: list, holidays=()) -> "BusinessHours | None":
        """From a calendar's stored values; None (around the clock) when they are unusable:
        ``calendar_problems`` tells a supervisor why before they are saved."""
        if calendar_problems(time_zone=time_zone, hours=hours):
            return None
        week = tuple(
            (time.fromisoformat(day[0]), time.fromisoformat(day[1])) if day else None
            for day in hours
        )
        return cls(tz=ZoneInfo(time_zone), week=week, holidays=frozenset(holidays))

    def windows(self, start: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Open periods (UTC) from ``start`` on, in order, the first one clipped to start."""
        day = start.astimezone(self.tz).date()
        for _ in range(MAX_DAYS):
            hours = self.week[day.weekday()]
            if hours is not None and day not in self.holidays:
                opens = datetime.combine(day, hours[0], self.tz).astimezone(UTC)
                closes = datetime.combine(day, hours[1], self.tz).astimezone(UTC)
                if closes > start:
                    yield max(opens, start), closes
            day += timedelta(days=1)


def calendar_problems(*, time_zone: str, hours) -> list[str]:
    """What is wrong with a calendar's settings, in words a supervisor understands."""
    problems = []
    try:
        ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(f"Unknown time zone {time_zone!r} (e.g. Europe/London).")
    if not isinstance(hours, list) or len(hours) != 7:
        return [*problems, "Hours need seven entries, Monday first."]
    for name, day in zip(
        ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
        hours,
        strict=True,
    ):
        if day is None:
            continue
        try:
            opens, closes = (time.fromisoformat(day[0]), time.fromisoformat(day[1]))
        except (TypeError, ValueError, IndexError, KeyError):
            problems.append(f'{name}: give ["HH:MM", "HH:MM"] or null for closed.')
            continue
        if len(day) != 2 or opens >= closes:
            problems.append(f"{name}: the opening time must come before the closing time.")
    if not problems and all(day is None for day in hours):
        problems.append("At least one day must be open.")
    return problems


def business_seconds(hours: BusinessHours | None, start: datetime, end: datetime) -> float:
    """Business time between two instants."""
    if end <= start:
        return 0.0
    if hours is None:
        return (end - start).total_seconds()
    total = 0.0
    for opens, closes in hours.windows(start):
        if opens >= end:
            break
        total += (min(closes, end) - opens).total_seconds()
    return total


def add_business_seconds(hours: BusinessHours | None, start: datetime, seconds: float) -> datetime:
    """The instant when ``seconds`` of business time have passed since ``start``."""
    if hours is None:
        return start + timedelta(seconds=seconds)
    remaining = max(seconds, 0.0)
    opens = start
    for opens, closes in hours.windows(start):
        length = (closes - opens).total_seconds()
        if remaining <= length:
            return opens + timedelta(seconds=remaining)
        remaining -= length
    return opens + timedelta(seconds=remaining)  # unreachable with a valid calendar


@dataclass(frozen=True)
class Clock:
    due_at: datetime | None
    risk_at: datetime | None
    met: bool | None  # None while the clock still runs
    running: bool  # running now (not paused, not stopped)


@dataclass(frozen=True)
class SlaState:
    first_response: Clock
    resolution: Clock
    paused: bool

    @property
    def next_due_at(self) -> datetime | None:
        if self.first_response.running:
            return self.first_response.due_at
        if self.resolution.running:
            return self.resolution.due_at
        return None


def _clock(
    hours: BusinessHours | None,
    runs: list[tuple[datetime, datetime | None]],
    *,
    target: float,
    risk_share: float,
    stopped_at: datetime | None,
) -> Clock:
    """``runs`` are the periods the clock ran, oldest first; the last one's end is None when
    it runs now. ``stopped_at`` is when it stopped for good (None: not stopped)."""
    used = 0.0
    due = risk = None
    last_start = None
    for start, end in runs:
        if end is None:
            last_start = start
            break
        length = business_seconds(hours, start, end)
        if risk is None and used + length >= target * risk_share:
            risk = add_business_seconds(hours, start, target * risk_share - used)
        if due is None and used + length > target:
            due = add_business_seconds(hours, start, target - used)
        used += length
    running = last_start is not None
    if running:
        if risk is None:
            risk = add_business_seconds(hours, last_start, target * risk_share - used)
        if due is None:
            due = add_business_seconds(hours, last_start, target - used)
    elif stopped_at is not None:
        if due is None:  # met: say by when it had to be
            due = add_business_seconds(hours, stopped_at, target - used)
        if risk is None:
            risk = add_business_seconds(hours, stopped_at, target * risk_share - used)
    met = None if stopped_at is None else used <= target
    return Clock(due_at=due, risk_at=risk, met=met, running=running)


def _clip(
    runs: list[tuple[datetime, datetime | None]], stop: datetime | None
) -> list[tuple[datetime, datetime | None]]:
    if stop is None:
        return runs
    clipped = []
    for start, end in runs:
        if start >= stop:
            break
        clipped.append((start, stop if end is None or end > stop else end))
    return clipped


def sla_compute(
    *,
    created_at: datetime,
    changes: list[tuple[datetime, str]],
    initial_status: str,
    first_responded_at: datetime | None,
    first_response_minutes: int,
    resolution_minutes: int,
    pause_statuses: frozenset[str] | set[str],
    hours: BusinessHours | None,
    risk_share: float = 0.8,
) -> SlaState:
    """The two clocks of a case. ``changes`` are its status changes (when, new status),
    oldest first; the status after the last one is the case's current status."""
    periods: list[tuple[datetime, datetime | None, str]] = []
    start, status = created_at, initial_status
    for when, new_status in changes:
        when = max(when, start)
        periods.append((start, when, status))
        start, status = when, new_status
    periods.append((start, None, status))
    current = status

    runs = [(s, e) for s, e, st in periods if st not in pause_statuses and st not in DONE]
    resolved_at = periods[-1][0] if current in DONE else None
    resolution = _clock(
        hours,
        runs,
        target=resolution_minutes * 60,
        risk_share=risk_share,
        stopped_at=resolved_at,
    )
    # Resolving without a reply stops the first-response clock too, for good.
    first_done = next((s for s, _e, st in periods if st in DONE), None)
    first_stop = min(filter(None, [first_responded_at, first_done]), default=None)
    first_runs = _clip(runs, first_stop)
    first = _clock(
        hours,
        first_runs,
        target=first_response_minutes * 60,
        risk_share=risk_share,
        stopped_at=first_stop,
    )
    return SlaState(
        first_response=first,
        resolution=resolution,
        paused=current in pause_statuses and current not in DONE,
    )
