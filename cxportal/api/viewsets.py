"""Base viewsets. ``get_queryset`` is final: it asks the subclass's selector for the
queryset and always applies ``restrict(actor)``, so no endpoint can skip object-level
permission."""

from django.core.exceptions import ImproperlyConfigured
from django.db.models import Model, QuerySet
from rest_framework import mixins, viewsets

from cxportal.api.metadata import APIMetadata
from cxportal.api.schema import APIAutoSchema


class ScopedViewSet(viewsets.GenericViewSet):
    #: Partner scope prefix: "customers" means customers:read / customers:write.
    scope: str = ""
    #: The model whose Django permissions staff need.
    model: type[Model]
    metadata_class = APIMetadata
    schema = APIAutoSchema()

    def get_model(self) -> type[Model]:
        return self.model

    def select(self, actor) -> QuerySet:
        """Return the selector's queryset for this actor (override in every viewset)."""
        raise ImproperlyConfigured(f"{type(self).__name__} must implement select()")

    def get_queryset(self) -> QuerySet:
        actor = self.request.user
        qs = self.select(actor)
        if not hasattr(qs, "restrict"):
            raise ImproperlyConfigured(f"{qs.model.__name__} needs a RestrictedQuerySet")
        return qs.restrict(actor, "view")

    @property
    def actor(self):
        return self.request.user


class ScopedReadOnlyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    pass


def validated_body(serializer_class, request, **context) -> dict:
    """The request body checked by an input serializer (400 when it isn't valid)."""
    serializer = serializer_class(data=request.data, context={"request": request, **context})
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def validated_query(serializer_class, request) -> dict:
    """The query string checked by a query serializer, without the parameters left empty."""
    query = serializer_class(data=request.query_params, context={"request": request})
    query.is_valid(raise_exception=True)
    return {k: v for k, v in query.validated_data.items() if v not in (None, "")}
