"""``/webhooks/<slug>/``: channel providers push messages here.

POST: the adapter checks the signature and reads the events; they are stored in the inbox
and the answer is ``202 {"accepted": n, "duplicates": m}`` at once (processing is a Celery
task). GET: the provider's subscription handshake. Every refusal is JSON in the API's error
format and stores nothing: unknown or inactive channel 404, body over 1 MB 413, unsigned
401, bad signature or stale timestamp 403, malformed body 400. The database away (restarting)
is 503 ``service_unavailable`` with ``Retry-After`` and stores nothing: providers retry it.
"""

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from customers.channels.base import WebhookRejected, adapter_for
from customers.models import ChannelSource
from customers.services.inbox import inbound_events_store
from cxportal.api.exceptions import DATABASE_UNAVAILABLE, error_body, service_unavailable

MAX_BODY_BYTES = 1024 * 1024


def _error(message: str, code: str, status: int) -> JsonResponse:
    return JsonResponse(error_body(message, code), status=status)


@csrf_exempt
def webhook_receive(request: HttpRequest, slug: str) -> HttpResponse:
    try:
        return _receive(request, slug)
    except DATABASE_UNAVAILABLE as exc:
        return service_unavailable(exc)


def _receive(request: HttpRequest, slug: str) -> HttpResponse:
    if request.method not in ("GET", "POST"):
        response = _error("Only GET (handshake) and POST.", "method_not_allowed", 405)
        response["Allow"] = "GET, POST"
        return response
    source = ChannelSource.objects.filter(slug=slug, is_active=True).first()
    if source is None:
        return _error("No such channel.", "not_found", 404)
    try:
        adapter = adapter_for(source)
    except LookupError:
        return _error("No such channel.", "not_found", 404)
    if not adapter.receives_webhooks:
        return _error("This channel does not take webhooks.", "not_found", 404)

    if request.method == "GET":
        response = adapter.handshake(request)
        return response or _error("This channel has no handshake.", "not_found", 404)

    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > MAX_BODY_BYTES:
        return _error("The body is larger than 1 MB.", "too_large", 413)
    try:
        body = request.body
    except RequestDataTooBig:
        return _error("The body is larger than 1 MB.", "too_large", 413)
    if len(body) > MAX_BODY_BYTES:
        return _error("The body is larger than 1 MB.", "too_large", 413)

    try:
        adapter.verify(request)
        events = adapter.events(request)
    except WebhookRejected as exc:
        return _error(exc.reason, exc.code, exc.status)
    new_ids = inbound_events_store(source=source, events=events)
    return JsonResponse(
        {"accepted": len(new_ids), "duplicates": len(events) - len(new_ids)}, status=202
    )
