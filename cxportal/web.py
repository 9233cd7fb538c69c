"""Small pieces every app's HTML views share: a service's errors on a form, a safe ``next``
URL, an id from the query string."""

from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest
from django.utils.http import url_has_allowed_host_and_scheme

from cxportal.validation import id_problem


def show_errors(form, error: ValidationError, mapping: dict[str, str] | None = None) -> None:
    """A service's ValidationError on the form: per field where the form has the field (or
    ``mapping`` names it), else at the top of the form."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error.messages)
        return
    for key, problems in error.message_dict.items():
        name = (mapping or {}).get(key, key)
        form.add_error(name if name in form.fields else None, problems)


def next_url(request: HttpRequest, default: str = "") -> str:
    """The ``next`` the request names when it stays on this site, else ``default``."""
    url = request.POST.get("next") or request.GET.get("next") or ""
    if url and url_has_allowed_host_and_scheme(url, allowed_hosts={request.get_host()}):
        return url
    return default


def query_id(request: HttpRequest, name: str) -> int | None:
    """The id in ``?<name>=``, None when absent; 404 when it can't be an id."""
    value = request.GET.get(name, "")
    if not value:
        return None
    if not value.isdigit() or id_problem(int(value)):
        raise Http404(f"No such {name}.")
    return int(value)
