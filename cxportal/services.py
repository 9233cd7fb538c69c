"""Writes of the core layer: audit events, teams and their permissions, API clients."""

from typing import Any

from django.contrib.auth.models import Group, Permission
from django.db import models, transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Concat
from django.utils import timezone

from cxportal.models import APIClient, AuditEvent, Team
from cxportal.roles import API_SCOPES, DEFAULT_PERMISSIONS


def actor_label(actor: Any) -> str:
    if actor is None:
        return "system"
    client = getattr(actor, "api_client", None)
    if client is not None:
        return f"api:{client.name}"
    return actor.get_username()


def audit_record(
    *,
    actor: Any,
    action: str,
    target: models.Model,
    before: dict | None = None,
    after: dict | None = None,
) -> AuditEvent:
    """Record who did what to which object; call inside the service's transaction."""
    client = getattr(actor, "api_client", None)
    user = actor if actor is not None and client is None and actor.is_authenticated else None
    return AuditEvent.objects.create(
        actor_user=user,
        actor_api_client=client,
        actor_label=actor_label(actor),
        action=action,
        target_type=target._meta.label_lower,
        target_id=str(target.pk),
        target_label=str(target)[:200],
        before=before or {},
        after=after or {},
    )


def audit_redact(
    *, target_type: str, target_ids: list[str], label_prefix: str = "", reason: str = "redacted"
) -> int:
    """Blank the values of audit events about these targets (a GDPR erasure): who did what
    and when stays; ``before``/``after`` are emptied and the label becomes ``label_prefix``
    plus the target id. One UPDATE per 1,000 ids; returns the rows changed. Call inside the
    erasing service's transaction."""
    ids = [str(i) for i in target_ids]
    changed = 0
    for start in range(0, len(ids), 1000):
        changed += AuditEvent.objects.filter(
            target_type=target_type, target_id__in=ids[start : start + 1000]
        ).update(
            before={},
            after={"redacted": reason},
            target_label=Concat(Value(label_prefix), F("target_id")),
        )
    return changed


def _default_permission_ids(team_slug: str) -> set[int]:
    query = Q(pk__in=[])
    for model_label, actions in DEFAULT_PERMISSIONS.get(team_slug, {}).items():
        app_label, model_name = model_label.split(".")
        codenames = [a if "_" in a else f"{a}_{model_name}" for a in actions]
        query |= Q(content_type__app_label=app_label, codename__in=codenames)
    return set(Permission.objects.filter(query).values_list("id", flat=True))


@transaction.atomic
def teams_ensure_defaults() -> list[Team]:
    """Create the five teams and grant default permissions not granted before.

    Runs after every migrate. A permission a supervisor removed stays removed (it is in
    ``applied_defaults``); a default for a model added since is granted.
    """
    teams = []
    for slug, label in Team.Slug.choices:
        group, _ = Group.objects.get_or_create(name=label)
        team, _ = Team.objects.get_or_create(slug=slug, defaults={"name": label, "group": group})
        perms = Permission.objects.filter(pk__in=_default_permission_ids(slug)).select_related(
            "content_type"
        )
        keys = {f"{p.content_type.app_label}.{p.codename}": p.pk for p in perms}
        new = {key: pk for key, pk in keys.items() if key not in set(team.applied_defaults)}
        if new:
            team.group.permissions.add(*new.values())
            team.applied_defaults = sorted({*team.applied_defaults, *new})
            team.save(update_fields=["applied_defaults"])
        teams.append(team)
    return teams


def api_scopes_validate(scopes: list[str]) -> list[str]:
    unknown = sorted(set(scopes) - set(API_SCOPES))
    if unknown:
        raise ValueError(
            f"Unknown scope(s): {', '.join(unknown)}. Known: {', '.join(sorted(API_SCOPES))}"
        )
    return sorted(set(scopes))


@transaction.atomic
def api_client_create(
    *, name: str, scopes: list[str], rate: str = "", actor: Any = None
) -> tuple[APIClient, str]:
    """Create a partner client; returns it and its key, which is never stored in clear."""
    key, prefix, hashed_key = APIClient.key_generator.generate()
    client = APIClient.objects.create(
        name=name,
        scopes=api_scopes_validate(scopes),
        rate=rate,
        prefix=prefix,
        hashed_key=hashed_key,
    )
    audit_record(
        actor=actor,
        action="api_client.create",
        target=client,
        after={"name": name, "scopes": client.scopes, "rate": rate},
    )
    return client, key


def api_client_touch(*, client: APIClient) -> None:
    """Note when a client was last seen, at most once a minute (no write per request)."""
    now = timezone.now()
    if client.last_used_at is None or (now - client.last_used_at).total_seconds() > 60:
        APIClient.objects.filter(pk=client.pk).update(last_used_at=now)
        client.last_used_at = now
