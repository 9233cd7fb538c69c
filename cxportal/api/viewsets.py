"""Base viewsets. ``get_queryset`` is final: it asks the subclass's selector for the
queryset and always applies ``restrict(actor)``, so no endpoint can skip object-level
permission."""

from django.core.exceptions import ImproperlyConfigured
from django.db.models import Model, QuerySet
from rest_framework import mixins, viewsets


class ScopedViewSet(viewsets.GenericViewSet):
    #: Partner scope prefix: "customers" means customers:read / customers:write.
    scope: str = ""
    #: The model whose Django permissions staff need.
    model: type[Model]

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
