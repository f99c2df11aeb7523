"""Indexes behind the one search box (``backoffice/search.py``), PostgreSQL only.

Every lookup the search makes has an index here or already (unique columns get Django's own
``_like`` pattern index): names by trigram "contains" (``pg_trgm`` GIN) and by prefix, e-mails
by prefix, PSP references by prefix, card last four. Created ``CONCURRENTLY`` so a large
production table is not locked; SQLite (the demo) runs the same queries without them.
"""

from django.db import migrations

INDEXES = [
    ("customer_name_trgm", "invoices_customer", "USING gin (UPPER(name::text) gin_trgm_ops)"),
    ("customer_name_prefix", "invoices_customer", "(UPPER(name::text) text_pattern_ops)"),
    ("customer_email_prefix", "invoices_customer", "(UPPER(email::text) text_pattern_ops)"),
    ("payment_psp_reference_prefix", "invoices_payment", "(psp_reference varchar_pattern_ops)"),
    ("payment_card_last4_idx", "invoices_payment", "(card_last4, captured_at DESC) WHERE card_last4 <> ''"),
]


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, table, definition in INDEXES:
        schema_editor.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {table} {definition}")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _, _ in INDEXES:
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("invoices", "0003_extension_queue_indexes")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
