from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from backoffice.dbroles import grant_app_role


class Command(BaseCommand):
    help = ("Grant a database role what the app needs and no more (row access; only INSERT on the journal "
            "tables). Run as the owner; `manage.py migrate` with DATABASE_OWNER_URL does this itself.")

    def add_arguments(self, parser):
        parser.add_argument("role")

    def handle(self, *args, **options):
        if connection.vendor != "postgresql":
            raise CommandError("database roles are a PostgreSQL feature")
        grant_app_role(connection, role=options["role"])
        self.stdout.write(f"Granted {options['role']} row access (append-only on the journal tables).")
