"""Indexes behind the lists' ``q`` filter (``backoffice/search.py``: ``filter_invoices``,
``filter_customers``), PostgreSQL only: digits anywhere in an invoice number, words anywhere in a
customer's e-mail, by trigram "contains" (``pg_trgm`` GIN, the extension from 0004)."""

from django.db import migrations

INDEXES = [
    ("invoice_number_trgm", "invoices_invoice", "USING gin (number gin_trgm_ops)"),
    ("customer_email_trgm", "invoices_customer", "USING gin (UPPER(email::text) gin_trgm_ops)"),
]


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, table, definition in INDEXES:
        schema_editor.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {table} {definition}")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _, _ in INDEXES:
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("invoices", "0004_search_indexes")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
