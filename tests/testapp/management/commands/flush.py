"""Test databases only: when the suite runs as the app's role (DATABASE_OWNER_URL set, as in CI),
transactional tests' flush TRUNCATEs as the owner — the app's role has no TRUNCATE right."""

from django.conf import settings
from django.core.management.commands import flush
from django.db import DEFAULT_DB_ALIAS, connections

from backoffice.dbroles import connected_as, owner_settings


class Command(flush.Command):
    def handle(self, **options):
        connection = connections[options.get("database") or DEFAULT_DB_ALIAS]
        if settings.DATABASE_OWNER_URL and connection.vendor == "postgresql":
            owner = owner_settings(settings.DATABASE_OWNER_URL)
            if owner["USER"] != connection.settings_dict.get("USER"):
                with connected_as(connection, owner):
                    return super().handle(**options)
        return super().handle(**options)
