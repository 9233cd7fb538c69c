"""Cases hang on a customer: a merge moves them (unmerge moves them back), a GDPR export
includes them and their history, an erasure leaves no personal string in them."""

from datetime import timedelta

import pytest
from django.utils import timezone

from cases.models import Case, CaseEvent
from cases.services import case_deadline_set, case_note_add, case_update
from customers.services import (
    customer_create,
    customer_erase,
    customer_export,
    customer_merge,
    customer_unmerge,
)
from customers.services.core import ContactInput
from tests.cases.factories import open_case
from tests.customers.factories import CustomerFactory
from tests.customers.test_privacy import database_hits

pytestmark = pytest.mark.django_db
MARKERS = ["Quentin Zorblatt", "zorblatt@example.com", "Zorblatt's wedding", "Quentin was upset"]


def quentin_with_a_case(boss):
    customer = customer_create(
        actor=boss,
        display_name="Quentin Zorblatt",
        contact_points=[ContactInput("email", "zorblatt@example.com")],
    )
    case = open_case(
        actor=boss,
        customer=customer,
        subject="Quentin Zorblatt: suit not delivered",
        description="Write to zorblatt@example.com, not the old address.",
        customer_deadline=timezone.now() + timedelta(days=3),
        customer_deadline_reason="Zorblatt's wedding on Saturday",
    )
    case = case_update(
        actor=boss, case=case, version=case.version, subject="Suit for Quentin Zorblatt"
    )
    case = case_deadline_set(
        actor=boss,
        case=case,
        version=case.version,
        deadline=timezone.now() + timedelta(days=2),
        reason="Zorblatt's wedding moved to Friday",
    )
    case_note_add(actor=boss, case=case, body="Quentin was upset on the phone.")
    return customer, case


def test_export_includes_the_customers_cases_and_their_history(boss):
    customer, case = quentin_with_a_case(boss)
    data = customer_export(actor=boss, customer=customer)
    (exported,) = data["other"]["cases.case.customer"]
    assert exported["id"] == case.pk and "Zorblatt" in exported["subject"]
    history = data["other"]["cases.caseevent.case"]
    assert {row["kind"] for row in history} == {"created", "updated", "deadline", "note"}
    assert any("upset" in row["body"] for row in history)


def test_erase_leaves_no_personal_string_in_cases(boss):
    customer, case = quentin_with_a_case(boss)
    before = {table for table, _, _ in database_hits(MARKERS)}
    assert {"cases_case", "cases_caseevent", "cxportal_auditevent"} <= before

    customer_erase(actor=boss, customer=customer)

    assert database_hits(MARKERS) == []
    case.refresh_from_db()
    # The case stays, as an anonymous aggregate for the SLA report and the counts.
    assert (case.subject, case.description, case.customer_deadline_reason) == ("", "", "")
    assert case.status == "new" and case.team.slug == "service"
    assert CaseEvent.objects.filter(case=case).count() == 4


def test_merge_moves_cases_and_unmerge_moves_them_back(boss):
    survivor, duplicate = CustomerFactory(), CustomerFactory()
    kept = open_case(actor=boss, customer=survivor)
    moved = open_case(actor=boss, customer=duplicate)
    merge = customer_merge(actor=boss, survivor=survivor, merged=duplicate)
    assert set(Case.objects.filter(customer=survivor)) == {kept, moved}
    customer_unmerge(actor=boss, merge=merge)
    assert list(Case.objects.filter(customer=duplicate)) == [moved]
