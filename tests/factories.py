from __future__ import annotations

import datetime as dt
from typing import cast

import factory
from django.contrib.auth.models import Group, User
from django.utils import timezone

from accounts import roles
from campaigns.models import Campaign, Scenario
from contacts.models import Batch, BatchMember, Contact


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", "pass12345")

    @factory.post_generation
    def role(obj: User, create: bool, extracted: str | None, **kwargs: object) -> None:
        if create and extracted:
            obj.groups.add(Group.objects.get(name=extracted))
        if create:
            obj.save()


def user_with_role(role: str = roles.CAMPAIGN_MANAGER) -> User:
    return cast(User, UserFactory(role=role))


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contact

    email = factory.Sequence(lambda n: f"contact{n}@example.com")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")


class BatchFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Batch

    name = factory.Sequence(lambda n: f"Batch {n}")
    source = Batch.Source.CAMPAIGN


class CampaignFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Campaign

    name = factory.Sequence(lambda n: f"Campaign {n}")
    start_date = factory.LazyFunction(lambda: timezone.localdate() - dt.timedelta(days=1))
    end_date = factory.LazyFunction(lambda: timezone.localdate() + dt.timedelta(days=30))
    batch = factory.SubFactory(BatchFactory)


class ScenarioFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Scenario

    campaign = factory.SubFactory(CampaignFactory)
    subject = factory.Sequence(lambda n: f"Subject {n}")
    content = "Hello {{ first_name|default:'there' }}"
    send_date = factory.LazyFunction(timezone.localdate)
    send_time = dt.time(9, 0)


def add_to_batch(batch: Batch, contacts: list[Contact]) -> None:
    BatchMember.objects.bulk_create([BatchMember(batch=batch, contact=c) for c in contacts])
