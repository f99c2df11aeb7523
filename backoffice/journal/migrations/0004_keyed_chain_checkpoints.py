"""Keyed hashes, signed checkpoints, verification results.

Rows written before this migration keep their plain SHA-256 (the table is append-only: they cannot
be rewritten) and get ``key_id`` = "". The last step signs checkpoint #1 with the current
``JOURNAL_HMAC_KEYS`` key over every chain's head as it stands now, so verification trusts those
legacy rows only up to that signed head: a later rewrite of them is still found.
"""

from django.db import migrations, models

APPEND_ONLY = ("journal_journalcheckpoint", "journal_journalcheckpointhead")
JOURNAL_WRITE_LOCK = 0x6A6F75726E616C


def append_only(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in APPEND_ONLY:
        schema_editor.execute(
            f"CREATE TRIGGER {table}_no_update_delete BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION backoffice_journal_append_only()"
        )
        schema_editor.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION backoffice_journal_append_only()"
        )


def drop_append_only(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in APPEND_ONLY:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_update_delete ON {table}")
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")


def sign_first_checkpoint(apps, schema_editor):
    from backoffice.journal.checkpoints import all_chain_heads, checkpoint_write

    Entry = apps.get_model("journal", "JournalEntry")
    Checkpoint = apps.get_model("journal", "JournalCheckpoint")
    Head = apps.get_model("journal", "JournalCheckpointHead")
    if Checkpoint.objects.exists():
        return
    with schema_editor.connection.cursor() as cursor:
        if schema_editor.connection.vendor == "postgresql":
            # Wait for journal writers in flight; new ones wait until this migration commits.
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [JOURNAL_WRITE_LOCK])
        cursor.execute("SELECT COALESCE(MAX(id), 0) FROM journal_journalentry")
        boundary = int(cursor.fetchone()[0])
    heads = all_chain_heads(Entry, upto_id=boundary)
    checkpoint_write(Checkpoint=Checkpoint, Head=Head, kind="migration", boundary=boundary,
                     new_rows=Entry.objects.filter(id__lte=boundary).count(), heads=heads,
                     new_chains=len(heads), after_seq=None)


class Migration(migrations.Migration):

    dependencies = [
        ('journal', '0003_lean_indexes'),
    ]

    operations = [
        migrations.CreateModel(
            name='JournalCheckpoint',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('seq', models.PositiveIntegerField(unique=True)),
                ('kind', models.CharField(choices=[('migration', 'taken by the migration to keyed hashes'), ('scheduled', 'taken by a verification run')], max_length=16)),
                ('created_at', models.DateTimeField()),
                ('last_entry_id', models.BigIntegerField()),
                ('row_count', models.BigIntegerField()),
                ('chain_count', models.BigIntegerField()),
                ('heads_count', models.PositiveIntegerField()),
                ('heads_digest', models.CharField(max_length=64)),
                ('prev_signature', models.CharField(max_length=64)),
                ('key_id', models.CharField(max_length=16)),
                ('signature', models.CharField(max_length=64, unique=True)),
            ],
            options={
                'ordering': ['seq'],
            },
        ),
        migrations.AddField(
            model_name='journalentry',
            name='key_id',
            field=models.CharField(blank=True, default='', help_text='Id of the HMAC key that signed this row; empty for legacy SHA-256 rows.', max_length=16),
        ),
        migrations.CreateModel(
            name='JournalCheckpointHead',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('checkpoint_seq', models.PositiveIntegerField()),
                ('case_type', models.CharField(max_length=32)),
                ('case_id', models.BigIntegerField()),
                ('case_reference', models.CharField(blank=True, max_length=32)),
                ('seq', models.PositiveIntegerField()),
                ('hash', models.CharField(max_length=64)),
            ],
            options={
                'indexes': [models.Index(fields=['case_type', 'case_id', 'checkpoint_seq'], name='journal_cphead_case_idx')],
                'constraints': [models.UniqueConstraint(fields=('checkpoint_seq', 'case_type', 'case_id'), name='journal_cphead_unique')],
            },
        ),
        migrations.CreateModel(
            name='JournalVerification',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('mode', models.CharField(choices=[('incremental', 'incremental (since the last checkpoint)'), ('full', 'full (every row re-hashed)')], max_length=16)),
                ('trigger', models.CharField(help_text='schedule, command, or the user who asked', max_length=32)),
                ('started_at', models.DateTimeField()),
                ('finished_at', models.DateTimeField()),
                ('intact', models.BooleanField()),
                ('rows_checked', models.BigIntegerField(default=0)),
                ('rows_total', models.BigIntegerField(default=0)),
                ('checkpoint_seq', models.PositiveIntegerField(blank=True, help_text='The checkpoint compared against, or signed by this run.', null=True)),
                ('problems', models.JSONField(blank=True, default=list)),
            ],
            options={
                'indexes': [models.Index(fields=['-finished_at'], name='journal_verif_finished_idx')],
            },
        ),
        migrations.RunPython(append_only, drop_append_only),
        migrations.RunPython(sign_first_checkpoint, migrations.RunPython.noop),
    ]
