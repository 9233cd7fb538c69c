"""``RestrictedQuerySet.restrict(actor)``: the objects a caller may see.

Every API viewset and staff list goes through it (NetBox's pattern), so object-level
permission cannot be forgotten. A model whose rows belong to a team overrides
``restrict`` to add its team filter; another team's object then answers 404.
"""

from django.db import models


class RestrictedQuerySet(models.QuerySet):
    def restrict(self, actor, action: str = "view") -> "RestrictedQuerySet":
        if actor is None or not actor.is_authenticated:
            return self.none()
        if getattr(actor, "api_client", None) is not None:
            return self  # partner access is decided by scope, checked per endpoint
        meta = self.model._meta
        if not actor.has_perm(f"{meta.app_label}.{action}_{meta.model_name}"):
            return self.none()
        return self
