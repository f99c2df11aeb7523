"""``manage.py migrate`` as the database owner when ``DATABASE_OWNER_URL`` is set.

The app's own role (``DATABASE_URL``) owns nothing, so it cannot change the schema; this runs
Django's migrate as the owner on the same database and then grants the app's role row access
(INSERT only on the append-only tables), see ``backoffice/dbroles.py``. Either way it then makes
the journal's monthly partitions that are missing (``backoffice/journal/partitions.py``).
"""

from django.conf import settings
from django.core.management.commands import migrate
from django.db import DEFAULT_DB_ALIAS, connections

from backoffice.dbroles import connected_as, grant_app_role, owner_settings
from backoffice.journal.partitions import journal_create_partitions


class Command(migrate.Command):
    help = migrate.Command.help + " With DATABASE_OWNER_URL set: as that owner, then grants DATABASE_URL's role."

    def handle(self, *args, **options):
        self.migrate_as_owner(*args, **options)
        alias = options.get("database") or DEFAULT_DB_ALIAS
        if not options.get("plan"):
            created = journal_create_partitions(using=alias)
            if created and options.get("verbosity", 1) >= 1:
                self.stdout.write(f"Journal partitions created: {', '.join(f'{m:%Y-%m}' for m, _ in created)}.")

    def migrate_as_owner(self, *args, **options):
        alias = options.get("database") or DEFAULT_DB_ALIAS
        connection = connections[alias]
        owner_url = getattr(settings, "DATABASE_OWNER_URL", "")
        app_role = connection.settings_dict.get("USER", "")
        if not owner_url or alias != DEFAULT_DB_ALIAS or connection.vendor != "postgresql":
            return super().handle(*args, **options)
        owner = owner_settings(owner_url)
        if not app_role or owner["USER"] == app_role:
            return super().handle(*args, **options)
        with connected_as(connection, owner):
            super().handle(*args, **options)
            grant_app_role(connection, role=app_role)
        if options.get("verbosity", 1) >= 1:
            self.stdout.write(f"Migrated as {owner['USER']}; granted row access to {app_role}.")
