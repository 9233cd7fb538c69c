"""One error format for the whole API: ``{"message", "code", "errors"}``.

``errors`` maps field names (or item indexes for batches) to lists of messages; it is
empty when the error is not about a field.

The database unreachable (restarting, failing over, refusing connections) is 503
``service_unavailable`` with ``Retry-After``: a partner retries it later, as it would a
provider's 503; nothing was written.
"""

import logging

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from cxportal.errors import StaleVersion

logger = logging.getLogger(__name__)

#: The database is away (connection refused or lost, server shutting down).
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError)
RETRY_AFTER_SECONDS = 5


def error_body(message: str, code: str, errors: dict | None = None) -> dict:
    return {"message": message, "code": code, "errors": errors or {}}


def _unavailable_body(exc: Exception) -> dict:
    logger.warning("Database unavailable: %s: %s", type(exc).__name__, exc)
    return error_body(
        "The service is briefly unavailable; try again shortly.", "service_unavailable"
    )


def service_unavailable(exc: Exception) -> JsonResponse:
    """503 in the error format, for a request that failed because the database is away."""
    response = JsonResponse(_unavailable_body(exc), status=status.HTTP_503_SERVICE_UNAVAILABLE)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def api_exception_handler(exc, context):
    if isinstance(exc, DATABASE_UNAVAILABLE):
        return Response(
            _unavailable_body(exc),
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    if isinstance(exc, RequestDataTooBig):
        return Response(
            error_body("The request body is too large.", "too_large"),
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, StaleVersion):
        body = error_body(
            str(exc), "conflict", {"version": [f"The current version is {exc.current_version}."]}
        )
        return Response(body, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail
        if isinstance(detail, dict):
            non_field = detail.get("non_field_errors")
            message = str(non_field[0]) if non_field else "Invalid input."
            body = error_body(message, "invalid", _plain(detail))
        else:
            items = detail if isinstance(detail, list) else [detail]
            body = error_body(" ".join(str(i) for i in items), "invalid")
    else:
        detail = getattr(exc, "detail", str(exc))
        code = getattr(detail, "code", None) or getattr(exc, "default_code", "error")
        body = error_body(str(detail), str(code))
    response.data = body
    return response


def _plain(detail):
    if isinstance(detail, dict):
        return {str(k): _plain(v) for k, v in detail.items()}
    if isinstance(detail, list):
        return [_plain(v) for v in detail]
    return str(detail)


@csrf_exempt  # a partner's POST to an unknown API URL is a 404 in JSON, not a CSRF page
def json_not_found(request, exception=None):
    return JsonResponse(error_body("Not found.", "not_found"), status=status.HTTP_404_NOT_FOUND)


def json_server_error(request):
    return JsonResponse(
        error_body("Internal server error.", "server_error"),
        status=status.HTTP_500_INTERNAL_SERVER_ERROR,
    )


def validation_error_response(errors: dict, message: str = "Invalid input.") -> Response:
    return Response(error_body(message, "invalid", errors), status=status.HTTP_400_BAD_REQUEST)
