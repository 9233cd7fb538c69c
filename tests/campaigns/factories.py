"""Campaign test data, made through the services."""

from campaigns.models import Segment
from campaigns.services import campaign_create, segment_save
from customers.services import consent_set, customer_create
from customers.services.core import ContactInput
from cxportal.models import Team


def marketable(actor, n: int, *, region="North", stage="active", consent=True, **fields):
    customer = customer_create(
        actor=actor,
        display_name=f"Mia Customer{n}",
        region=region,
        lifecycle_stage=stage,
        preferred_channel="email",
        contact_points=[ContactInput("email", f"mia{n}@example.com")],
        **fields,
    )
    if consent:
        consent_set(
            actor=actor,
            customer=customer,
            channel="email",
            purpose="marketing",
            granted=True,
            source="newsletter signup",
        )
    return customer


def segment(actor, rules=None, name="North actives") -> Segment:
    return segment_save(
        actor=actor,
        name=name,
        rules=rules or {"all": [{"field": "region", "op": "eq", "value": "North"}]},
        team=Team.objects.get(slug="marketing"),
    )


def campaign(actor, seg=None, *, channel="email", variants=None, **fields):
    return campaign_create(
        actor=actor,
        name=fields.pop("name", "Spring offer"),
        team=Team.objects.get(slug="marketing"),
        channel=channel,
        segment=seg or segment(actor),
        variants=variants
        or [
            {
                "subject": "Spring, {first_name}!",
                "body": "Hi {first_name}, see https://brand.example/spring",
                "weight": 50,
            },
            {
                "subject": "Fresh for spring",
                "body": "Hello {name}: https://brand.example/spring-b",
                "weight": 50,
            },
        ],
        **fields,
    )
