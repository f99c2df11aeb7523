"""The journal partitioned by month (PostgreSQL declarative partitioning, RANGE on ``created_at``).

Under the journal's exclusive write lock and an ACCESS EXCLUSIVE lock on the table, the old table is
renamed aside, a partitioned parent with the same columns takes its name, one partition is made for
every month that holds rows (plus the current month and the next three, and a DEFAULT partition so an
insert never fails), the rows are copied in with their ids, the identity sequence goes on from where
it was, the old table is dropped and the indexes are built on the parent (PostgreSQL builds one per
partition). The primary key becomes ``(id, created_at)`` in the database (a partitioned table's
unique indexes must contain the partition key); Django keeps ``id`` as the model's primary key.

* **No fork**: ``journal_case_seq_unique`` cannot exist on a partitioned table, so
  ``journal_journalchainhead`` (one row per chain: its last ``seq`` and ``hash``) is advanced by a
  trigger in the transaction of every append: seq 1 inserts the head (``ON CONFLICT DO NOTHING``),
  seq n + 1 moves it from seq n only if it still names the new row's ``prev_hash``; anything else
  raises ``unique_violation``, so of two appends at one place of a chain only one can commit. The
  trigger function runs as the owner: the app's role may only read the head table. Backfilled here.
* **Append-only**: the UPDATE/DELETE row trigger on the parent is cloned by PostgreSQL to every
  partition, the TRUNCATE trigger is not: each partition gets its own, made with it.
* **Partitions ahead of time**: ``backoffice_journal_create_partitions(months_ahead)``, SECURITY
  DEFINER (owned by the owner, ``search_path`` pinned, EXECUTE granted to the app's role by
  ``dbroles.grant_app_role``) makes the current month and the next ``months_ahead`` ones, and a
  partition for every month that has rows in DEFAULT, moving those rows there (same ids, same
  content); task ``journal.create_partitions`` and ``manage.py migrate`` call it.
"""

from django.db import migrations, models

JOURNAL_WRITE_LOCK = 0x6A6F75726E616C  # backoffice.journal.services.JOURNAL_WRITE_LOCK
TABLE = "journal_journalentry"
OLD = "journal_journalentry_unpartitioned"
INDEXES = {  # the model's indexes, built on the parent after the copy
    "journal_case_seq_idx": "(case_type, case_id, seq)",
    "journal_reference_idx": "(case_reference, created_at)",
    "journal_created_idx": "(created_at, id)",
    "journal_actor_idx": "(actor_label, created_at)",
    "journal_type_created_idx": "(case_type, created_at)",
}

# One month's partition; rows of that month already in DEFAULT are moved into it. Owner only (no
# EXECUTE for PUBLIC); the migration and the bench loader call it directly.
ADD_PARTITION = """
CREATE OR REPLACE FUNCTION {schema}.backoffice_journal_add_partition(month timestamptz) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET timezone = 'UTC' AS $fn$
DECLARE
    lo timestamptz := date_trunc('month', month);
    hi timestamptz := date_trunc('month', month) + interval '1 month';
    name text := 'journal_journalentry_y' || to_char(lo, 'YYYY"m"MM');
    moved bigint := 0;
BEGIN
    IF to_regclass(format('{schema}.%I', name)) IS NOT NULL THEN
        RETURN NULL;
    END IF;
    EXECUTE format('CREATE TABLE {schema}.%I (LIKE {schema}.journal_journalentry INCLUDING DEFAULTS '
                   'INCLUDING CONSTRAINTS INCLUDING STORAGE)', name);
    EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON {schema}.%I '
                   'FOR EACH STATEMENT EXECUTE FUNCTION {schema}.backoffice_journal_append_only()',
                   name || '_no_truncate', name);
    IF to_regclass('{schema}.journal_journalentry_default') IS NOT NULL THEN
        -- Rows that landed in DEFAULT for this month move to the new partition, unchanged.
        EXECUTE format('INSERT INTO {schema}.%I SELECT * FROM {schema}.journal_journalentry_default '
                       'WHERE created_at >= $1 AND created_at < $2', name) USING lo, hi;
        GET DIAGNOSTICS moved = ROW_COUNT;
        IF moved > 0 THEN
            ALTER TABLE {schema}.journal_journalentry_default
                DISABLE TRIGGER journal_journalentry_no_update_delete;
            DELETE FROM {schema}.journal_journalentry_default WHERE created_at >= lo AND created_at < hi;
            ALTER TABLE {schema}.journal_journalentry_default
                ENABLE TRIGGER journal_journalentry_no_update_delete;
        END IF;
    END IF;
    EXECUTE format('ALTER TABLE {schema}.journal_journalentry ATTACH PARTITION {schema}.%I '
                   'FOR VALUES FROM (%L) TO (%L)', name, lo, hi);
    RETURN moved;
END;
$fn$;
REVOKE ALL ON FUNCTION {schema}.backoffice_journal_add_partition(timestamptz) FROM PUBLIC;
"""

# What the app's role may run (task journal.create_partitions): this month and the next ones, and a
# partition for every month that has rows in DEFAULT (moved there). With nothing to do it takes no
# lock; otherwise it waits for journal writers in flight (the journal write lock, exclusively) and
# gives up after lock_timeout rather than queue the journal's readers and writers behind it (the
# next run tries again). Returns the months created and the rows moved into each.
CREATE_PARTITIONS = """
CREATE OR REPLACE FUNCTION {schema}.backoffice_journal_create_partitions(months_ahead integer)
RETURNS TABLE (partition_month timestamptz, moved_rows bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET timezone = 'UTC'
SET lock_timeout = '5s' AS $fn$
DECLARE
    months timestamptz[];
    m timestamptz;
    moved bigint;
BEGIN
    IF months_ahead IS NULL OR months_ahead < 0 OR months_ahead > 36 THEN
        RAISE EXCEPTION 'months_ahead must be between 0 and 36, not %', months_ahead
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT array_agg(month ORDER BY month) INTO months FROM (
        SELECT date_trunc('month', now()) + make_interval(months => g) AS month FROM generate_series(0, months_ahead) g
        UNION
        SELECT DISTINCT date_trunc('month', created_at) FROM {schema}.journal_journalentry_default
    ) wanted
    WHERE to_regclass(format('{schema}.%I', 'journal_journalentry_y' || to_char(month, 'YYYY"m"MM'))) IS NULL;
    IF months IS NULL THEN
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock({lock});
    FOREACH m IN ARRAY months LOOP
        moved := {schema}.backoffice_journal_add_partition(m);
        IF moved IS NOT NULL THEN
            partition_month := m;
            moved_rows := moved;
            RETURN NEXT;
        END IF;
    END LOOP;
END;
$fn$;
REVOKE ALL ON FUNCTION {schema}.backoffice_journal_create_partitions(integer) FROM PUBLIC;
"""

# Advances journal_journalchainhead for every row appended (runs as the owner: the app's role only reads it).
CHAIN_ADVANCE = """
CREATE OR REPLACE FUNCTION {schema}.backoffice_journal_chain_advance() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
    advanced integer;
BEGIN
    IF NEW.seq = 1 AND NEW.prev_hash = repeat('0', 64) THEN
        INSERT INTO {schema}.journal_journalchainhead (case_type, case_id, seq, hash)
        VALUES (NEW.case_type, NEW.case_id, 1, NEW.hash) ON CONFLICT DO NOTHING;
        GET DIAGNOSTICS advanced = ROW_COUNT;
    ELSE
        UPDATE {schema}.journal_journalchainhead SET seq = NEW.seq, hash = NEW.hash
        WHERE case_type = NEW.case_type AND case_id = NEW.case_id AND seq = NEW.seq - 1 AND hash = NEW.prev_hash;
        GET DIAGNOSTICS advanced = ROW_COUNT;
    END IF;
    IF advanced <> 1 THEN
        RAISE EXCEPTION 'journal chain % % already moved on: seq % does not follow its head', NEW.case_type,
            NEW.case_id, NEW.seq USING ERRCODE = 'unique_violation', CONSTRAINT = 'journal_chain_head';
    END IF;
    RETURN NEW;
END;
$fn$;
REVOKE ALL ON FUNCTION {schema}.backoffice_journal_chain_advance() FROM PUBLIC;
"""


UNIQUE = models.UniqueConstraint(fields=["case_type", "case_id", "seq"], name="journal_case_seq_unique")
CASE_SEQ_INDEX = models.Index(fields=["case_type", "case_id", "seq"], name="journal_case_seq_idx")


def forwards(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":  # one table, as before: only the index changes
        Entry = apps.get_model("journal", "JournalEntry")
        schema_editor.remove_constraint(Entry, UNIQUE)
        schema_editor.add_index(Entry, CASE_SEQ_INDEX)
        return
    q = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_schema()")
        schema = q(cursor.fetchone()[0])
        # No journal writer in flight, none until this migration commits; nobody reads the old table either.
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [JOURNAL_WRITE_LOCK])
        cursor.execute(f"LOCK TABLE {TABLE} IN ACCESS EXCLUSIVE MODE")
        cursor.execute(f"SELECT pg_get_serial_sequence('{TABLE}', 'id')")
        old_sequence = cursor.fetchone()[0]
        cursor.execute(f"SELECT last_value, is_called FROM {old_sequence}")
        last_value, is_called = cursor.fetchone()
        cursor.execute(f"ALTER TABLE {TABLE} RENAME TO {OLD}")
        cursor.execute(f"ALTER SEQUENCE {old_sequence} RENAME TO {OLD}_id_seq")
        cursor.execute(f"ALTER TABLE {OLD} RENAME CONSTRAINT {TABLE}_pkey TO {OLD}_pkey")
        # Free the index and constraint names for the parent (the copy needs none of them).
        cursor.execute("SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'u'", [OLD])
        for (name,) in cursor.fetchall():
            cursor.execute(f"ALTER TABLE {OLD} DROP CONSTRAINT {q(name)}")
        cursor.execute("SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = %s::regclass "
                       "AND NOT indisprimary", [OLD])
        for (name,) in cursor.fetchall():
            cursor.execute(f"DROP INDEX {name}")

        cursor.execute(f"CREATE TABLE {TABLE} (LIKE {OLD} INCLUDING DEFAULTS INCLUDING CONSTRAINTS "
                       "INCLUDING IDENTITY INCLUDING STORAGE) PARTITION BY RANGE (created_at)")
        cursor.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT {TABLE}_pkey PRIMARY KEY (id, created_at)")
        cursor.execute(f"CREATE TRIGGER {TABLE}_no_update_delete BEFORE UPDATE OR DELETE ON {TABLE} "
                       "FOR EACH ROW EXECUTE FUNCTION backoffice_journal_append_only()")
        cursor.execute(f"CREATE TRIGGER {TABLE}_no_truncate BEFORE TRUNCATE ON {TABLE} "
                       "FOR EACH STATEMENT EXECUTE FUNCTION backoffice_journal_append_only()")
        cursor.execute(f"CREATE TABLE {TABLE}_default PARTITION OF {TABLE} DEFAULT")
        cursor.execute(f"CREATE TRIGGER {TABLE}_default_no_truncate BEFORE TRUNCATE ON {TABLE}_default "
                       "FOR EACH STATEMENT EXECUTE FUNCTION backoffice_journal_append_only()")
        cursor.execute(ADD_PARTITION.format(schema=schema))
        cursor.execute(f"SELECT {schema}.backoffice_journal_add_partition(m) FROM "
                       f"(SELECT DISTINCT date_trunc('month', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS m "
                       f"FROM {OLD}) months ORDER BY m")

        # The rows, with their ids; the identity goes on from the old sequence.
        cursor.execute(f"INSERT INTO {TABLE} OVERRIDING SYSTEM VALUE SELECT * FROM {OLD} ORDER BY id")
        cursor.execute(f"SELECT setval(pg_get_serial_sequence('{TABLE}', 'id'), %s, %s)", [last_value, is_called])
        cursor.execute(f"DROP TABLE {OLD}")
        for name, columns in INDEXES.items():
            cursor.execute(f"CREATE INDEX {name} ON {TABLE} {columns}")

        # Chain heads: backfilled from the rows, then advanced by the trigger on every append.
        cursor.execute("INSERT INTO journal_journalchainhead (case_type, case_id, seq, hash) "
                       f"SELECT DISTINCT ON (case_type, case_id) case_type, case_id, seq, hash FROM {TABLE} "
                       "ORDER BY case_type, case_id, seq DESC")
        cursor.execute(CHAIN_ADVANCE.format(schema=schema))
        cursor.execute(f"CREATE TRIGGER {TABLE}_chain_advance BEFORE INSERT ON {TABLE} "
                       f"FOR EACH ROW EXECUTE FUNCTION {schema}.backoffice_journal_chain_advance()")
        cursor.execute(CREATE_PARTITIONS.format(schema=schema, lock=JOURNAL_WRITE_LOCK))
        cursor.execute(f"SELECT * FROM {schema}.backoffice_journal_create_partitions(3)")


def backwards(apps, schema_editor):
    """Back to one table with its unique (case_type, case_id, seq); the chain heads table goes with the state."""
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        Entry = apps.get_model("journal", "JournalEntry")
        schema_editor.remove_index(Entry, CASE_SEQ_INDEX)
        schema_editor.add_constraint(Entry, UNIQUE)
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [JOURNAL_WRITE_LOCK])
        cursor.execute(f"LOCK TABLE {TABLE} IN ACCESS EXCLUSIVE MODE")
        cursor.execute(f"SELECT last_value, is_called FROM {TABLE}_id_seq")
        last_value, is_called = cursor.fetchone()
        cursor.execute(f"ALTER TABLE {TABLE} RENAME TO {OLD}")
        cursor.execute(f"ALTER SEQUENCE {TABLE}_id_seq RENAME TO {OLD}_id_seq")
        cursor.execute(f"ALTER TABLE {OLD} RENAME CONSTRAINT {TABLE}_pkey TO {OLD}_pkey")
        for name in INDEXES:
            cursor.execute(f"ALTER INDEX {name} RENAME TO {name}_old")
        cursor.execute(f"CREATE TABLE {TABLE} (LIKE {OLD} INCLUDING DEFAULTS INCLUDING CONSTRAINTS "
                       "INCLUDING IDENTITY INCLUDING STORAGE)")
        cursor.execute(f"ALTER TABLE {TABLE} ADD PRIMARY KEY (id)")
        cursor.execute(f"INSERT INTO {TABLE} OVERRIDING SYSTEM VALUE SELECT * FROM {OLD} ORDER BY id")
        cursor.execute(f"SELECT setval(pg_get_serial_sequence('{TABLE}', 'id'), %s, %s)", [last_value, is_called])
        cursor.execute(f"DROP TABLE {OLD}")
        for name, columns in INDEXES.items():
            if name != "journal_case_seq_idx":
                cursor.execute(f"CREATE INDEX {name} ON {TABLE} {columns}")
        cursor.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT journal_case_seq_unique UNIQUE (case_type, case_id, seq)")
        cursor.execute(f"CREATE TRIGGER {TABLE}_no_update_delete BEFORE UPDATE OR DELETE ON {TABLE} "
                       "FOR EACH ROW EXECUTE FUNCTION backoffice_journal_append_only()")
        cursor.execute(f"CREATE TRIGGER {TABLE}_no_truncate BEFORE TRUNCATE ON {TABLE} "
                       "FOR EACH STATEMENT EXECUTE FUNCTION backoffice_journal_append_only()")
        for function in ("backoffice_journal_create_partitions(integer)", "backoffice_journal_add_partition(timestamptz)",
                         "backoffice_journal_chain_advance()"):
            cursor.execute(f"DROP FUNCTION IF EXISTS {function}")


class Migration(migrations.Migration):

    dependencies = [
        ("journal", "0005_verification_schedules"),
    ]

    operations = [
        migrations.CreateModel(
            name="JournalChainHead",
            fields=[
                ("pk", models.CompositePrimaryKey("case_type", "case_id", blank=True, editable=False, primary_key=True,
                                                  serialize=False)),
                ("case_type", models.CharField(max_length=32)),
                ("case_id", models.BigIntegerField()),
                ("seq", models.PositiveIntegerField()),
                ("hash", models.CharField(max_length=64)),
            ],
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveConstraint(model_name="journalentry", name="journal_case_seq_unique"),
                migrations.AddIndex(
                    model_name="journalentry",
                    index=models.Index(fields=["case_type", "case_id", "seq"], name="journal_case_seq_idx"),
                ),
            ],
            database_operations=[migrations.RunPython(forwards, backwards)],
        ),
    ]
