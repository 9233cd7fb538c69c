"""OpenAPI descriptions drf-spectacular cannot infer by itself."""

from drf_spectacular.extensions import (
    OpenApiAuthenticationExtension,
    OpenApiSerializerExtension,
)
from drf_spectacular.openapi import AutoSchema

from cxportal.api.serializers import ErrorSerializer


class APIKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "cxportal.api.authentication.APIKeyAuthentication"
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Api-Key <key>`, as printed by `manage.py create_api_client`.",
        }


class StrictInputSerializerSchema(OpenApiSerializerExtension):
    """A strict input answers 400 for a field it does not know: the schema says so
    (``additionalProperties: false``), so clients and fuzzers do not send extra fields."""

    target_class = "cxportal.api.serializers.StrictInputSerializer"
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        return {**schema, "additionalProperties": False}


class APIAutoSchema(AutoSchema):
    """Documents the error answers every operation can give, which drf-spectacular cannot
    see: 400 where there is a body or a query string to get wrong (a bad filter, cursor or
    page size), 404 where the path names an object. Every 4xx is described as the error
    format, ``{message, code, errors}``. Set on ``ScopedViewSet``; views that say more keep
    what they say."""

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        responses = operation.setdefault("responses", {})
        places = {parameter.get("in") for parameter in operation.get("parameters", [])}
        if "requestBody" in operation or "query" in places:
            responses.setdefault("400", {"description": "Invalid input."})
        if "path" in places:
            responses.setdefault("404", {"description": "Not found, or not visible to the caller."})
        error = self.resolve_serializer(ErrorSerializer, "response").ref
        for code, response in responses.items():
            if code.startswith("4") and "content" not in response:
                response["content"] = {"application/json": {"schema": error}}
        return operation
