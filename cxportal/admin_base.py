"""Building blocks of every app's admin (core: no app imports)."""

from typing import Any

from django.contrib import admin
from django.db import models, transaction

from cxportal.services import audit_record


class ReadOnlyMixin:
    """History and records kept by services: viewable, never edited by hand."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Records the services keep: listed and viewed, never added, edited or deleted here."""

    show_full_result_count = False  # no COUNT(*) over millions of rows per page


def audit_plain(value: Any) -> Any:
    """A field's value as the audit log keeps it (a team by its slug, a row by its id, a
    time as ISO 8601)."""
    if isinstance(value, models.Model):
        return getattr(value, "slug", None) or value.pk
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


class AuditedConfigAdmin(admin.ModelAdmin):
    """Saves and deletes of configuration (SLA policies, surveys, themes, ...) leave an
    audit event ``<audit_name>.create|update|delete`` with the values before and after,
    recorded once the inlines are saved too. After a save, ``obj._audit_changed`` names the
    fields that changed."""

    audit_name = ""
    audit_fields: tuple[str, ...] = ()

    def audit_snapshot(self, obj) -> dict:
        return {name: audit_plain(getattr(obj, name)) for name in self.audit_fields}

    def save_model(self, request, obj, form, change):
        obj._audit_before = (
            self.audit_snapshot(type(obj).objects.get(pk=obj.pk)) if change else None
        )
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        obj = form.instance
        before, after = getattr(obj, "_audit_before", None), self.audit_snapshot(obj)
        obj._audit_changed = {k for k in after if not before or before.get(k) != after[k]}
        if before == after:
            return
        audit_record(
            actor=request.user,
            action=f"{self.audit_name}.{'update' if change else 'create'}",
            target=obj,
            before=before,
            after=after,
        )

    def _audit_delete(self, request, obj) -> None:
        audit_record(
            actor=request.user,
            action=f"{self.audit_name}.delete",
            target=obj,
            before=self.audit_snapshot(obj),
        )

    def delete_model(self, request, obj):
        with transaction.atomic():
            self._audit_delete(request, obj)
            super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            for obj in queryset:
                self._audit_delete(request, obj)
            super().delete_queryset(request, queryset)
