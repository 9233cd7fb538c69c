"""The channel health page for supervisors: is every channel syncing, how far behind is
processing, and why is a failing one failing — with a "Retry now" button.

Thin: reads ``selectors.channel_health_list`` and ``selectors.channel_traffic`` (a fixed
number of queries whatever the number of channels), writes through
``services.channel_sync_retry``.
"""

from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from customers.channels.base import adapter_class
from customers.models import ChannelSource
from customers.selectors import ChannelHealth, channel_health_list, channel_traffic
from customers.services import channel_sync_retry

MINUTES = 60
#: A backlog older than this is shown as a warning.
LAG_WARN_SECONDS = 300
SPARK_WIDTH, SPARK_HEIGHT = 150, 30


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    height: float
    count: int
    minutes_ago: int


@dataclass(frozen=True)
class ChannelRow:
    health: ChannelHealth
    polled: bool
    status: str  # failing, inactive, behind, waiting, healthy
    status_label: str
    lag: str
    bars: list[Bar]
    peak: int
    success_ago: str
    error_ago: str
    event_ago: str

    @property
    def source(self) -> ChannelSource:
        return self.health.source


def duration(seconds: float) -> str:
    """62 → "1 min", 7260 → "2 h 1 min", 3 → "3 s"."""
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{hours // 24} days"


def ago(when, now) -> str:
    """ "just now", "12 min ago", "3 h ago"; "" for no time."""
    if when is None:
        return ""
    seconds = int((now - when).total_seconds())
    if seconds < 10:
        return "just now"
    if seconds < 3600:
        return f"{seconds} s ago" if seconds < 60 else f"{seconds // 60} min ago"
    return f"{seconds // 3600} h ago" if seconds < 48 * 3600 else f"{seconds // 86400} days ago"


def _bars(counts: list[int]) -> tuple[list[Bar], int]:
    peak = max(counts, default=0)
    step = SPARK_WIDTH / len(counts)
    bars = []
    for index, count in enumerate(counts):
        height = 0.0 if not peak else max(round(count / peak * (SPARK_HEIGHT - 2), 1), 1.5)
        if count == 0:
            height = 0.0
        bars.append(
            Bar(
                x=round(index * step, 2),
                y=round(SPARK_HEIGHT - height, 1),
                height=height,
                count=count,
                minutes_ago=len(counts) - 1 - index,
            )
        )
    return bars, peak


def _polled(kind: str) -> bool:
    try:
        return adapter_class(kind).polled
    except LookupError:
        return False


def _status(health: ChannelHealth, polled: bool) -> tuple[str, str]:
    if not health.source.is_active:
        return "inactive", "Inactive"
    if health.failing:
        return "failing", "Failing"
    if health.lag_seconds > LAG_WARN_SECONDS:
        return "behind", "Behind"
    if polled and health.source.last_success_at is None:
        return "waiting", "Not synced yet"
    return "healthy", "Healthy"


@login_required
@permission_required("customers.view_channelsource", raise_exception=True)
@require_GET
def channel_health_view(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    healths = channel_health_list(now=now)
    traffic = channel_traffic(
        source_ids=[health.source.pk for health in healths], now=now, minutes=MINUTES
    )
    rows = []
    for health in healths:
        polled = _polled(health.source.kind)
        status, label = _status(health, polled)
        bars, peak = _bars(traffic.get(health.source.pk, [0] * MINUTES))
        rows.append(
            ChannelRow(
                health=health,
                polled=polled,
                status=status,
                status_label=label,
                lag=duration(health.lag_seconds) if health.backlog else "—",
                bars=bars,
                peak=peak,
                success_ago=ago(health.source.last_success_at, now),
                error_ago=ago(health.source.last_error_at, now),
                event_ago=ago(health.last_received_at, now),
            )
        )
    failing = sum(1 for row in rows if row.status == "failing")
    return render(
        request,
        "customers/channels.html",
        {
            "rows": rows,
            "failing": failing,
            "backlog": sum(row.health.backlog for row in rows),
            "now": now,
            "spark": {"width": SPARK_WIDTH, "height": SPARK_HEIGHT},
            "can_retry": request.user.has_perm("customers.change_channelsource"),
        },
    )


@login_required
@permission_required("customers.change_channelsource", raise_exception=True)
@require_POST
def channel_retry_view(request: HttpRequest, source_id: int) -> HttpResponse:
    source = get_object_or_404(ChannelSource, pk=source_id)
    channel_sync_retry(actor=request.user, source=source)
    if _polled(source.kind):
        messages.success(
            request,
            f"Retrying {source.name}: a sync was sent to the worker, and its pending events "
            "too. This page shows the result in a moment.",
        )
    else:
        messages.success(
            request, f"Retrying {source.name}: its pending events were sent to the worker."
        )
    return redirect("channels:health")
