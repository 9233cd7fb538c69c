"""Merging two customer records of one person, and undoing it exactly.

Which rows move is discovered, not listed: every foreign key to ``Customer`` in any installed
app (``customer_relations``), so records later apps hang on a customer (cases, care flags,
survey responses, deliveries...) follow the person without this app importing them.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Exists, Field, Model, OuterRef, Q, QuerySet, UniqueConstraint
from django.utils import timezone

from customers.models import Consent, Customer, CustomerMerge
from cxportal.services import actor_label, audit_record

#: Rows moved per UPDATE: keeps the parameter list within every backend's limits.
MOVE_BATCH = 5_000

#: Key of ``CustomerMerge.moved`` holding the consent answers a merge overwrote on the
#: survivor (no model label has no dot, so it cannot clash with one).
CONSENT_OVERRIDES = "consent_overrides"
#: Key of ``CustomerMerge.moved`` holding the survivor's accessibility needs and note before
#: the merge (``before``) and what the merge made of them (``after``).
ACCESSIBILITY = "accessibility"
#: Keys of ``CustomerMerge.moved`` that are not ``"app.model": {"field": [ids]}``.
NOT_RELATIONS = (CONSENT_OVERRIDES, ACCESSIBILITY)


@dataclass(frozen=True)
class CustomerRelation:
    """One foreign key to ``Customer``: ``model.field`` points at a customer."""

    model: type[Model]
    field: Field

    @property
    def key(self) -> tuple[str, str]:
        return self.model._meta.label_lower, self.field.name

    def rows_of(self, customer: Customer | int) -> QuerySet:
        return self.model._base_manager.filter(**{self.field.name: customer})


def customer_relations() -> list[CustomerRelation]:
    """Every foreign key (and one-to-one) to ``Customer`` in every installed app, including
    hidden ones (``related_name="+"``) and the through tables of many-to-many fields.

    ``CustomerMerge`` is left out: it is the record *of* merges, not data of the person.
    ``Customer.merged_into`` is included: customers merged earlier into the merged one are
    re-pointed to the survivor, so a merge chain stays one hop long.
    """
    relations = []
    for rel in Customer._meta.get_fields(include_hidden=True):
        if not (rel.auto_created and not rel.concrete) or rel.many_to_many:
            continue  # forward fields, and M2M (their through table's FK is listed instead)
        if rel.related_model is CustomerMerge:
            continue
        relations.append(CustomerRelation(model=rel.related_model, field=rel.field))
    return sorted(relations, key=lambda r: r.key)


def _unique_sets(relation: CustomerRelation) -> list[tuple[list[str], Q | None]]:
    """The unique constraints that include the relation's field: (the other fields, condition).

    Expression-based constraints cannot be matched row by row and are skipped."""
    meta, name = relation.model._meta, relation.field.name
    sets: list[tuple[list[str], Q | None]] = []
    if relation.field.unique:
        sets.append(([], None))
    for fields in meta.unique_together:
        if name in fields:
            sets.append(([f for f in fields if f != name], None))
    for constraint in meta.constraints:
        if (
            isinstance(constraint, UniqueConstraint)
            and constraint.fields
            and name in constraint.fields
        ):
            sets.append(([f for f in constraint.fields if f != name], constraint.condition))
    return sets


def _movable(relation: CustomerRelation, *, survivor: Customer, merged: Customer) -> QuerySet:
    """The merged customer's rows that can move: not those a unique constraint including the
    customer would refuse because the survivor already has the same row (the survivor's
    answer wins; the merged customer keeps its own)."""
    qs = relation.rows_of(merged)
    for others, condition in _unique_sets(relation):
        twin = relation.rows_of(survivor).filter(**{f: OuterRef(f) for f in others})
        if condition is not None:
            twin = twin.filter(condition)
            qs = qs.exclude(condition & Q(Exists(twin)))
        else:
            qs = qs.exclude(Exists(twin))
    return qs


def _move(relation: CustomerRelation, ids: list[int], *, to: Customer, where: Customer) -> int:
    """Point the rows ``ids`` (still at ``where``) at ``to``: one UPDATE per batch."""
    moved = 0
    for start in range(0, len(ids), MOVE_BATCH):
        moved += (
            relation.rows_of(where)
            .filter(pk__in=ids[start : start + MOVE_BATCH])
            .update(**{relation.field.name: to})
        )
    return moved


def _lock(*customers: Customer) -> dict[int, Customer]:
    """Lock the customers' rows (in id order, so two merges cannot deadlock) and return
    fresh copies: the checks below must see what other transactions committed."""
    ids = sorted({c.pk for c in customers})
    return {c.pk: c for c in Customer.objects.select_for_update().filter(pk__in=ids).order_by("pk")}


def _consent_overrides(*, survivor: Customer, merged: Customer) -> list[dict[str, Any]]:
    """Give the survivor the merged customer's consent answer where that one is more recent.

    Returns what was overwritten (and with what) so unmerge can put it back. Both lists are
    bounded by the unique constraint (one row per channel x purpose)."""
    theirs = {(c.channel, c.purpose): c for c in Consent.objects.filter(customer=merged)}
    if not theirs:
        return []
    rows, overrides = [], []
    for row in Consent.objects.filter(customer=survivor):
        newer = theirs.get((row.channel, row.purpose))
        if newer is None or newer.updated_at <= row.updated_at:
            continue
        overrides.append(
            {"id": row.pk, "before": _consent_state(row), "after": _consent_state(newer)}
        )
        row.status, row.source, row.updated_at = newer.status, newer.source, newer.updated_at
        rows.append(row)
    if rows:
        Consent.objects.bulk_update(rows, ["status", "source", "updated_at"])
    return overrides


def _accessibility_state(customer: Customer) -> dict[str, Any]:
    return {"needs": customer.accessibility_needs, "note": customer.accessibility_note}


def _accessibility_merge(*, survivor: Customer, merged: Customer) -> dict[str, Any] | None:
    """Carry the merged record's accessibility needs over to the survivor: the flag is ORed,
    the merged record's note appended (unless the survivor's already says it). Returns the
    survivor's values before and after, or None when nothing changed."""
    before = _accessibility_state(survivor)
    note = merged.accessibility_note.strip()
    if note and note not in survivor.accessibility_note:
        addition = f"From customer #{merged.pk}: {note}"
        survivor.accessibility_note = (
            f"{survivor.accessibility_note.rstrip()}\n\n{addition}"
            if survivor.accessibility_note.strip()
            else addition
        )
    survivor.accessibility_needs = survivor.accessibility_needs or merged.accessibility_needs
    after = _accessibility_state(survivor)
    if after == before:
        return None
    survivor.save(update_fields=["accessibility_needs", "accessibility_note", "updated_at"])
    return {"before": before, "after": after}


def _accessibility_restore(survivor: Customer, recorded: dict[str, Any] | None) -> bool:
    """Put back the survivor's accessibility values a merge changed, unless changed since."""
    if not recorded or _accessibility_state(survivor) != recorded["after"]:
        return False
    survivor.accessibility_needs = recorded["before"]["needs"]
    survivor.accessibility_note = recorded["before"]["note"]
    survivor.save(update_fields=["accessibility_needs", "accessibility_note", "updated_at"])
    return True


def _consent_state(consent: Consent) -> dict[str, str]:
    return {
        "status": consent.status,
        "source": consent.source,
        "updated_at": consent.updated_at.isoformat(),
    }


@transaction.atomic
def customer_merge(*, actor: Any, survivor: Customer, merged: Customer) -> CustomerMerge:
    """Move everything of ``merged`` to ``survivor`` in one transaction; ``merged`` then points
    at the survivor (``merged_into``) and disappears from lists and searches.

    Every foreign key to ``Customer`` in any app moves (``customer_relations``), one UPDATE per
    model and field (per 5,000 rows). The ids moved are recorded in ``CustomerMerge.moved``
    (``{"app.model": {"field": [ids]}}``) so ``customer_unmerge`` moves back exactly those.

    Unique constraints including the customer (Consent: customer × channel × purpose,
    CustomerPlace: customer × place, and any later app's): when both customers have the row,
    the survivor keeps its own and the merged customer's row stays with the merged customer.
    Consent is the one exception to "the survivor's answer wins": the *more recent* answer
    wins, because a withdrawal the person gave through their other record must not be
    forgotten (nor a newer grant). The merged answer (status, source, updated_at) is copied
    onto the survivor's row and the old values are kept in ``moved["consent_overrides"]``;
    the consent history (ConsentEvent) moves whole, so it explains the current answer.

    Accessibility needs are never lost to a merge: the survivor's flag becomes true when the
    merged record's was, and the merged record's note is appended to the survivor's
    ("From customer #n: ..."). The survivor's previous values are kept in
    ``moved["accessibility"]`` and unmerge restores them (unless they were changed since).

    Refused (ValidationError): merging a customer into itself, into or from a customer that
    was merged away (merge into its survivor instead), or an erased customer.
    Permission (``customers.merge_customer``) is the caller's job (views, API, admin).
    """
    if survivor.pk == merged.pk:
        raise ValidationError("A customer cannot be merged into itself.")
    locked = _lock(survivor, merged)
    survivor, merged = locked[survivor.pk], locked[merged.pk]
    if survivor.merged_into_id:
        raise ValidationError(
            f"Customer #{survivor.pk} was merged into #{survivor.merged_into_id}; "
            f"merge into #{survivor.merged_into_id} instead."
        )
    if merged.merged_into_id:
        raise ValidationError(
            f"Customer #{merged.pk} was already merged into #{merged.merged_into_id}."
        )
    for customer in (survivor, merged):
        if customer.erased_at:
            raise ValidationError(f"Customer #{customer.pk} was erased and cannot be merged.")

    moved: dict[str, Any] = {}
    counts: dict[str, int] = {}
    overrides = _consent_overrides(survivor=survivor, merged=merged)
    if overrides:
        moved[CONSENT_OVERRIDES] = overrides
    accessibility = _accessibility_merge(survivor=survivor, merged=merged)
    if accessibility:
        moved[ACCESSIBILITY] = accessibility
    for relation in customer_relations():
        ids = list(
            _movable(relation, survivor=survivor, merged=merged)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        if not ids:
            continue
        _move(relation, ids, to=survivor, where=merged)
        label, field = relation.key
        moved.setdefault(label, {})[field] = ids
        counts[f"{label}.{field}"] = len(ids)

    merged.merged_into = survivor
    merged.save(update_fields=["merged_into", "updated_at"])
    merge = CustomerMerge.objects.create(
        survivor=survivor, merged=merged, moved=moved, performed_by=actor_label(actor)
    )
    audit_record(
        actor=actor,
        action="customer.merge",
        target=survivor,
        before={},
        after={
            "merge_id": merge.pk,
            "merged_id": merged.pk,
            "moved": counts,
            "consent_overridden": len(overrides),
            **({"accessibility_carried_over": True} if accessibility else {}),
        },
    )
    audit_record(
        actor=actor,
        action="customer.merged_into",
        target=merged,
        before={"merged_into": None},
        after={"merged_into": survivor.pk, "merge_id": merge.pk},
    )
    return merge


@transaction.atomic
def customer_unmerge(*, actor: Any, merge: CustomerMerge) -> None:
    """Undo a merge: the recorded rows that are still at the survivor move back to the merged
    customer, overwritten consent answers and the survivor's accessibility needs are restored
    (unless changed since), and the merged customer is live again. Rows added to the survivor
    after the merge stay with it.

    Refused (ValidationError): undoing twice, undoing while the survivor has itself been
    merged into another customer (undo that merge first), or after the survivor was erased.
    """
    merge = CustomerMerge.objects.select_for_update().get(pk=merge.pk)
    if merge.undone_at is not None:
        raise ValidationError(f"Merge #{merge.pk} was already undone.")
    locked = _lock(merge.survivor, merge.merged)
    survivor, merged = locked[merge.survivor_id], locked[merge.merged_id]
    if survivor.merged_into_id:
        raise ValidationError(
            f"Customer #{survivor.pk} was since merged into #{survivor.merged_into_id}; "
            "undo that merge first."
        )
    if survivor.erased_at or merged.erased_at:
        raise ValidationError("The personal data was erased since; this merge cannot be undone.")

    relations = {r.key: r for r in customer_relations()}
    counts: dict[str, int] = {}
    try:
        with transaction.atomic():
            for label, fields in merge.moved.items():
                if label in NOT_RELATIONS:
                    continue
                for field, ids in fields.items():
                    relation = relations.get((label, field)) or _relation_of(label, field)
                    counts[f"{label}.{field}"] = _move(relation, ids, to=merged, where=survivor)
            _restore_consent(merge.moved.get(CONSENT_OVERRIDES, []))
            accessibility_restored = _accessibility_restore(
                survivor, merge.moved.get(ACCESSIBILITY)
            )
    except IntegrityError:
        raise ValidationError(
            f"Merge #{merge.pk} cannot be undone: rows added to customer #{merged.pk} since "
            "conflict with the ones to move back."
        ) from None

    merged.merged_into = None
    merged.save(update_fields=["merged_into", "updated_at"])
    merge.undone_at = timezone.now()
    merge.save(update_fields=["undone_at"])
    audit_record(
        actor=actor,
        action="customer.unmerge",
        target=survivor,
        before={"merge_id": merge.pk, "merged_id": merged.pk},
        after={
            "moved_back": counts,
            **({"accessibility_restored": True} if accessibility_restored else {}),
        },
    )
    audit_record(
        actor=actor,
        action="customer.unmerged",
        target=merged,
        before={"merged_into": survivor.pk, "merge_id": merge.pk},
        after={"merged_into": None},
    )


def _relation_of(label: str, field: str) -> CustomerRelation:
    """A relation recorded in an old merge that discovery no longer lists (should not happen;
    fail loudly rather than restore half)."""
    model = apps.get_model(label)
    return CustomerRelation(model=model, field=model._meta.get_field(field))


def _restore_consent(overrides: list[dict[str, Any]]) -> None:
    """Put back the survivor's consent answers a merge overwrote, unless changed since."""
    if not overrides:
        return
    by_id = {o["id"]: o for o in overrides}
    rows = []
    for row in Consent.objects.filter(pk__in=by_id):  # at most channel x purpose rows
        override = by_id[row.pk]
        after = override["after"]
        if (row.status, row.source, row.updated_at) != (
            after["status"],
            after["source"],
            _parse(after["updated_at"]),
        ):
            continue  # changed after the merge: the newer answer stands
        before = override["before"]
        row.status, row.source = before["status"], before["source"]
        row.updated_at = _parse(before["updated_at"])
        rows.append(row)
    if rows:
        Consent.objects.bulk_update(rows, ["status", "source", "updated_at"])


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value)
