import factory
from django.contrib.auth import get_user_model

from cxportal.models import Team
from cxportal.services import api_client_create


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    # Not realistic names on purpose: a page showing the logged-in user's name must never
    # make a "customer name not on the page" assertion pass or fail by chance.
    first_name = "Staff"
    last_name = factory.Sequence(lambda n: f"Member{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", "pw-for-tests")

    @factory.post_generation
    def team(obj, create, extracted, **kwargs):
        if extracted:
            obj.groups.add(Team.objects.get(slug=extracted).group)
            obj.is_staff = extracted == "supervisor"
        obj.save()


def make_api_key(scopes: list[str], name: str | None = None, rate: str = "") -> str:
    """A real partner client through the service; returns its key."""
    import uuid

    _client, key = api_client_create(
        name=name or f"partner-{uuid.uuid4().hex[:8]}", scopes=scopes, rate=rate
    )
    return key
