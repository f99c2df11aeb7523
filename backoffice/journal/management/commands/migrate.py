"""``manage.py migrate`` as the database owner when ``DATABASE_OWNER_URL`` is set.

The app's own role (``DATABASE_URL``) owns nothing, so it cannot change the schema; this runs
Django's migrate as the owner on the same database and then grants the app's role row access
(INSERT only on the append-only tables), see ``backoffice/dbroles.py``.
"""

from django.conf import settings
from django.core.management.commands import migrate
from django.db import DEFAULT_DB_ALIAS, connections

from backoffice.dbroles import connected_as, grant_app_role, owner_settings


class Command(migrate.Command):
    help = migrate.Command.help + " With DATABASE_OWNER_URL set: as that owner, then grants DATABASE_URL's role."

    def handle(self, *args, **options):
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
