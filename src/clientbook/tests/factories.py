"""factory_boy factories for the core tables, with Faker zh_CN data.

Writes in tests go through the services wherever the rule under test lives
there; factories are for the surroundings.
"""

import datetime as dt
import decimal

import factory
from django.utils import timezone

from clientbook.activity.models import Interaction
from clientbook.customers.models import Customer, Identifier
from clientbook.customers.normalise import name_keys
from clientbook.org.models import Branch
from clientbook.org.services import staff_create
from clientbook.privacy.models import Source
from clientbook.sales.models import Product

factory.Faker._DEFAULT_LOCALE = "zh_CN"


class SourceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Source
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"source-{n}")
    name = factory.LazyAttribute(lambda o: o.code)
    kind = "manual"
    legal_basis = "contract"


class BranchFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Branch
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"B{n:03d}")
    name = factory.Faker("company")
    region = "华东"


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    name = factory.Faker("name")
    gender = factory.Iterator(["M", "F"])
    birth_date = factory.Faker("date_of_birth", minimum_age=18, maximum_age=80)
    lifecycle_stage = "active"
    branch = factory.SubFactory(BranchFactory)
    source = factory.SubFactory(SourceFactory)
    # Made with the row, as the services make them (a hook saving them after
    # creation made factory_boy warn in every test that built a customer).
    name_pinyin = factory.LazyAttribute(lambda c: name_keys(c.name)[0])
    name_initials = factory.LazyAttribute(lambda c: name_keys(c.name)[1])


class IdentifierFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Identifier

    customer = factory.SubFactory(CustomerFactory)
    type = "membership"
    value = factory.Sequence(lambda n: f"M{n:08d}")
    source = factory.SubFactory(SourceFactory)
    first_seen = factory.LazyFunction(timezone.now)
    last_seen = factory.LazyFunction(timezone.now)


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product
        django_get_or_create = ("sku",)

    sku = factory.Sequence(lambda n: f"SKU{n:05d}")
    name = factory.Faker("word")
    category = "饮品"
    price = decimal.Decimal("100.00")
    unit_cost = decimal.Decimal("60.00")


class InteractionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Interaction

    customer = factory.SubFactory(CustomerFactory)
    channel = "phone"
    direction = "out"
    type = "call"
    occurred_at = factory.LazyFunction(lambda: timezone.now() - dt.timedelta(days=1))
    summary = factory.Faker("sentence")
    source = factory.SubFactory(SourceFactory)


def staff(role: str, *, username: str, branch=None, password: str = "pass-1234"):
    return staff_create(username=username, password=password, role=role, branch=branch)
