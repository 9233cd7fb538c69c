"""One permission class for every API view.

Partner apps need the view's scope (``<scope>:read`` for safe methods, ``<scope>:write``
otherwise, or what the action names in ``action_scopes``). Staff need the Django model
permission for the action (``action_perms`` overrides). Which *objects* a caller sees is the
queryset's job (``ScopedViewSet``), so another team's object answers 404.
"""

from rest_framework.permissions import SAFE_METHODS, BasePermission

ACTION_PERMS = {
    "list": "view",
    "retrieve": "view",
    "create": "add",
    "update": "change",
    "partial_update": "change",
    "destroy": "delete",
}


class ActorPermission(BasePermission):
    message = "You do not have permission to perform this action."

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        action = getattr(view, "action", None)
        if hasattr(view, "action_map") and action is None:
            return True  # the method is not routed on this viewset: let it answer 405
        client = getattr(user, "api_client", None)
        if client is not None:
            return client.has_scope(required_scope(view, action, request.method))
        perm = required_perm(view, action, request.method)
        return perm is not None and user.has_perm(perm)


def required_scope(view, action: str | None, method: str) -> str:
    explicit = getattr(view, "action_scopes", {}).get(action)
    if explicit:
        return explicit
    access = "read" if method in SAFE_METHODS else "write"
    return f"{view.scope}:{access}"


def required_perm(view, action: str | None, method: str) -> str | None:
    explicit = getattr(view, "action_perms", {}).get(action)
    if explicit:
        return explicit
    model = view.get_model()
    verb = ACTION_PERMS.get(action or "", "view" if method in SAFE_METHODS else None)
    if verb is None:
        return None
    return f"{model._meta.app_label}.{verb}_{model._meta.model_name}"
