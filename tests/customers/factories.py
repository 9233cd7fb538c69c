import factory

from customers.models import Customer


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    display_name = factory.Faker("name")
    lifecycle_stage = Customer.Lifecycle.ACTIVE
    region = factory.Iterator(["North", "South", "East", "West"])
    preferred_channel = Customer.Channel.EMAIL
