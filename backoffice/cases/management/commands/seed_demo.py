"""Seed deterministic demo data: the demo users, the ledger, then each workflow's cases.

The ledger is written in bulk (it is imported data); every case is played through the services on
a clock set to when each of its steps happened (``backoffice.demo``). Running it twice changes
nothing: each part checks for its own marker rows first.
"""

from __future__ import annotations

import importlib
import random

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction

from backoffice.demo import DEMO_PASSWORD, DEMO_USERS

# Each module has ``seed(*, rng: random.Random) -> None``; missing modules are skipped.
SEED_MODULES = ["invoices.demo", "disputes.demo", "refunds.demo", "invoices.demo_extensions",
                "backoffice.webhooks.demo"]


def seed_users() -> None:
    User = get_user_model()
    for username, groups, superuser in DEMO_USERS:
        user, created = User.objects.get_or_create(
            username=username,
            defaults={"email": f"{username}@demo.example", "is_staff": superuser, "is_superuser": superuser,
                      "first_name": username.capitalize()},
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["password"])
        user.groups.add(*Group.objects.filter(name__in=groups))


class Command(BaseCommand):
    help = "Seed deterministic, idempotent demo data (users, ledger, disputes, refunds, extensions)."

    def add_arguments(self, parser):
        parser.add_argument("--seed", type=int, default=20261122)

    def handle(self, *args, **options):
        with transaction.atomic():
            seed_users()
        for offset, name in enumerate(SEED_MODULES):
            try:
                module = importlib.import_module(name)
            except ModuleNotFoundError as exc:
                if exc.name == name:
                    continue
                raise
            rng = random.Random(options["seed"] + offset)
            module.seed(rng=rng)
            self.stdout.write(f"seeded {name}")
        self.stdout.write(self.style.SUCCESS("Demo data ready. Users: " +
                                             ", ".join(u for u, _, _ in DEMO_USERS) + f" / password '{DEMO_PASSWORD}'"))
