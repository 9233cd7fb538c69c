"""Tracking links in campaign emails: an open pixel and signed click redirects. Public (the
customer's mail program fetches them), never cached, and a click only ever redirects to a
URL we signed into the message: no open redirect."""

import base64

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from campaigns.services import delivery_clicked, delivery_opened

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


@require_GET
@never_cache
def track_open(request: HttpRequest, token: str) -> HttpResponse:
    delivery_opened(token=token)
    return HttpResponse(PIXEL, content_type="image/gif")


@require_GET
@never_cache
def track_click(request: HttpRequest, token: str) -> HttpResponse:
    url = delivery_clicked(token=token)
    if url is None:
        raise Http404("This link is not valid.")
    return HttpResponseRedirect(url)
