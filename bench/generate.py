"""Loads the bench data set into the project's own schema, in minutes.

Ledger and cases are made by ``INSERT … SELECT generate_series`` inside PostgreSQL; the journal
is hashed in Python with the project's own ``JournalEntry.compute_hash`` (so ``verify_journal``
checks real chains) and streamed in with ``COPY``. Secondary indexes and unique constraints are
dropped during the load and rebuilt afterwards, as one would restore a dump; foreign-key checks
and triggers are skipped (``session_replication_role = replica``) because the rows are consistent
by construction. The journal's monthly partitions are made before its load and its chain heads
(``journal_journalchainhead``, which the trigger would have advanced) are filled after it.
Everything is deterministic: the same scale gives the same rows.

Shape (full scale): 200k customers, 1M invoices, 2M payments (disputes sit on odd payments,
refunds on even ones), 1M disputes (85 % resolved, the open ones due between 10 days ago and 30
days ahead, so thousands are inside each reminder window), 1M refunds, 200k extensions, about
5M journal rows (one chain per case: creation and the transitions that led to its state).
"""

from __future__ import annotations

import io
import multiprocessing
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection

# A fixed "now" would make the open cases stale as days pass; the data are dated relative to the load.
ADJECTIVES = ("Acme Amber Apex Arctic Aurora Azure Binary Blue Bright Cedar Cobalt Coral Crimson Delta Echo "
              "Ember Emerald Falcon Fjord Golden Granite Harbor Helix Indigo Iron Jade Kestrel Lunar Maple "
              "Marble Meridian Nimbus Nova Oak Onyx Orbit Pacific Polar Quartz Raven Sable Sierra Silver "
              "Solar Spruce Summit Tidal Titan Velvet Vertex").split()
NOUNS = ("Analytics Bakery Bikes Compute Consulting Data Design Dynamics Energy Foods Freight Games Grid "
         "Health Holdings Imaging Industries Labs Learning Logistics Media Metrics Mining Motors Networks "
         "Optics Pharma Robotics Security Software Studios Systems Telecom Textiles Ventures Vision Works").split()
SUFFIXES = ("LLC", "Ltd", "GmbH", "Inc", "SA", "BV", "TOO", "MChJ")
CURRENCIES = ("USD", "USD", "USD", "EUR", "EUR", "GBP", "KZT", "AZN", "UZS")
# The rare customer that "search by a rare name" looks for, and its neighbours.
RARE_NAME = "Quixotic Zephyr Aerostructures"


@dataclass(frozen=True)
class Scale:
    name: str
    customers: int
    invoices: int
    payments: int
    disputes: int
    refunds: int
    extensions: int

    @classmethod
    def named(cls, name: str) -> Scale:
        full = cls("full", 200_000, 1_000_000, 2_000_000, 1_000_000, 1_000_000, 200_000)
        if name == "full":
            return full
        if name == "small":
            return cls("small", *(n // 50 for n in (full.customers, full.invoices, full.payments, full.disputes,
                                                     full.refunds, full.extensions)))
        if name == "tiny":
            return cls("tiny", *(n // 1000 for n in (full.customers, full.invoices, full.payments, full.disputes,
                                                      full.refunds, full.extensions)))
        raise ValueError(f"unknown scale {name!r} (full, small, tiny)")


BIG_TABLES = ("invoices_customer", "invoices_invoice", "invoices_payment", "disputes_dispute", "refunds_refund",
              "invoices_paymentextension", "journal_journalentry")


def _log(message: str) -> None:
    print(f"[generate {time.strftime('%H:%M:%S')}] {message}", flush=True)


def _sql_array(values) -> str:
    return "ARRAY[" + ",".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def _strip_indexes(cursor, table: str) -> list[str]:
    """Drop every secondary index and unique constraint of ``table``; return the SQL that rebuilds them."""
    cursor.execute(
        """SELECT c.conname, pg_get_constraintdef(c.oid) FROM pg_constraint c
           WHERE c.conrelid = %s::regclass AND c.contype = 'u'""", [table])
    rebuild = []
    for name, definition in cursor.fetchall():
        rebuild.append(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
        cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    cursor.execute(
        """SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i
           WHERE i.indrelid = %s::regclass AND NOT i.indisprimary
             AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)""", [table])
    for name, definition in cursor.fetchall():
        # A partitioned table's index reads "ON ONLY parent": rebuilt as is it would cover no partition.
        rebuild.append(definition.replace(" ON ONLY ", " ON ", 1))
        cursor.execute(f"DROP INDEX {name}")
    return rebuild


# Blank values for NOT NULL columns the generator does not name (columns added by later migrations).
_BLANKS = {"character varying": "''", "text": "''", "boolean": "false", "jsonb": "'{}'", "json": "'{}'",
           "integer": "0", "bigint": "0", "smallint": "0", "numeric": "0"}


def _temporary_defaults(cursor, table: str) -> list[str]:
    """Give NOT NULL columns without a default a blank default for the load; return the SQL that removes them."""
    cursor.execute(
        """SELECT column_name, data_type FROM information_schema.columns
           WHERE table_name = %s AND is_nullable = 'NO' AND column_default IS NULL AND column_name <> 'id'""",
        [table])
    undo = []
    for column, data_type in cursor.fetchall():
        if data_type in _BLANKS:
            cursor.execute(f'ALTER TABLE {table} ALTER COLUMN "{column}" SET DEFAULT {_BLANKS[data_type]}')
            undo.append(f'ALTER TABLE {table} ALTER COLUMN "{column}" DROP DEFAULT')
    return undo


def _users(cursor) -> tuple[list[int], list[int]]:
    """Bench people: 30 specialists and 8 team leads (password ``bench``), plus an admin for the changelist."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    User = get_user_model()
    specialists, leads = [], []
    for role, prefix, count, bucket in (("billing_specialist", "spec", 30, specialists),
                                        ("team_lead", "lead", 8, leads)):
        group = Group.objects.get(name=role)
        for i in range(1, count + 1):
            user, created = User.objects.get_or_create(username=f"{prefix}{i:02d}",
                                                       defaults={"email": f"{prefix}{i}@bench.test"})
            if created:
                user.set_password("bench")
                user.save()
                user.groups.add(group)
            bucket.append(user.pk)
    admin, created = User.objects.get_or_create(username="benchadmin", defaults={
        "is_staff": True, "is_superuser": True, "email": "admin@bench.test"})
    if created:
        admin.set_password("bench")
        admin.save()
        admin.groups.add(Group.objects.get(name="team_lead"))
    auditor, created = User.objects.get_or_create(username="auditor01", defaults={"email": "a@bench.test"})
    if created:
        auditor.set_password("bench")
        auditor.save()
        auditor.groups.add(Group.objects.get(name="finance_auditor"))
    return specialists, leads


def load(scale: Scale, *, workers: int = 2) -> dict[str, float]:
    """Fill an empty, migrated database. Returns seconds per step."""
    timings: dict[str, float] = {}
    now = datetime.now(UTC).replace(microsecond=0)
    with connection.cursor() as cursor:
        specialists, leads = _users(cursor)
        cursor.execute("SET session_replication_role = replica")
        cursor.execute("SET maintenance_work_mem = '256MB'")
        rebuild: dict[str, list[str]] = {t: _strip_indexes(cursor, t) for t in BIG_TABLES}
        undo_defaults = [sql for t in BIG_TABLES for sql in _temporary_defaults(cursor, t)]
        params = {
            "now": now, "c": scale.customers, "i": scale.invoices, "p": scale.payments, "d": scale.disputes,
            "r": scale.refunds, "e": scale.extensions, "specs": specialists, "leads": leads,
        }
        steps = _ledger_sql() + _cases_sql()
        for label, sql in steps:
            started = time.monotonic()
            cursor.execute(sql, params)
            timings[label] = time.monotonic() - started
            _log(f"{label}: {cursor.rowcount} rows in {timings[label]:.1f}s")
        for sql in undo_defaults:
            cursor.execute(sql)
        for table in ("disputes_dispute", "refunds_refund", "invoices_paymentextension", "invoices_customer",
                      "invoices_invoice", "invoices_payment"):
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                           f"(SELECT coalesce(max(id), 1) FROM {table}))")
        started = time.monotonic()
        partitions = _journal_partitions(cursor)
        timings["journal partitions"] = time.monotonic() - started
        _log(f"journal partitions: {partitions} made in {timings['journal partitions']:.1f}s")
    connection.close()
    started = time.monotonic()
    rows = _journal_sql_checked()
    if rows is None:
        rows = _journal(scale, now=now, workers=workers)
    timings["journal"] = time.monotonic() - started
    _log(f"journal: {rows} rows in {timings['journal']:.1f}s")
    started = time.monotonic()
    with connection.cursor() as cursor:
        heads = _journal_chain_heads(cursor)
    timings["journal chain heads"] = time.monotonic() - started
    _log(f"journal chain heads: {heads} rows in {timings['journal chain heads']:.1f}s")
    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '512MB'")
        for table, statements in rebuild.items():
            started = time.monotonic()
            for statement in statements:
                cursor.execute(statement)
            timings[f"indexes {table}"] = time.monotonic() - started
            _log(f"rebuilt {len(statements)} indexes on {table} in {timings[f'indexes {table}']:.1f}s")
        started = time.monotonic()
        for table in BIG_TABLES:
            cursor.execute(f"VACUUM (ANALYZE) {table}")
        cursor.execute("ANALYZE")
        timings["vacuum analyze"] = time.monotonic() - started
        _log(f"vacuum analyze in {timings['vacuum analyze']:.1f}s")
    return timings


def _ledger_sql() -> list[tuple[str, str]]:
    adjectives, nouns, suffixes, currencies = (_sql_array(v) for v in (ADJECTIVES, NOUNS, SUFFIXES, CURRENCIES))
    return [
        ("customers", f"""
            INSERT INTO invoices_customer (id, name, email, country, default_currency, external_id, created_at)
            SELECT g,
                   CASE WHEN g = 4242 THEN '{RARE_NAME}' ELSE
                   ({adjectives})[1 + (g::bigint * 7) %% {len(ADJECTIVES)}] || ' '
                   || ({nouns})[1 + (g::bigint * 13) %% {len(NOUNS)}]
                   || ' ' || ({suffixes})[1 + (g::bigint * 3) %% {len(SUFFIXES)}] END,
                   'billing' || g || '@customer' || (g %% 997) || '.example',
                   (ARRAY['US','DE','GB','KZ','AZ','UZ','FR','NL'])[1 + g %% 8],
                   ({currencies})[1 + (g::bigint * 5) %% {len(CURRENCIES)}],
                   'cus_' || lpad(g::text, 9, '0'),
                   %(now)s - make_interval(days => 1200 - (g %% 1100))
            FROM generate_series(1, %(c)s) g"""),
        # Invoice n belongs to customer 1 + n % customers and is issued in its currency.
        ("invoices", """
            INSERT INTO invoices_invoice (id, customer_id, number, status, currency, amount_minor, issued_at, due_at,
                                          paid_at, dunning_paused, created_at)
            SELECT g, c.id, 'INV-' || (2023 + g %% 3) || '-' || lpad(g::text, 7, '0'),
                   CASE WHEN g %% 20 = 0 THEN 'overdue' WHEN g %% 20 = 1 THEN 'open' ELSE 'paid' END,
                   c.default_currency, 100000 + (g::bigint * 7919) %% 900000,
                   %(now)s - make_interval(days => 30 + (g %% 1000)),
                   %(now)s - make_interval(days => (g %% 1000)) + interval '30 days' - interval '30 days',
                   CASE WHEN g %% 20 > 1 THEN %(now)s - make_interval(days => (g %% 1000)) END,
                   false, %(now)s - make_interval(days => 30 + (g %% 1000))
            FROM generate_series(1, %(i)s) g JOIN invoices_customer c ON c.id = 1 + g %% %(c)s"""),
        # Payment n pays invoice 1 + n/2 (two per invoice), 80 % by card.
        ("payments", """
            INSERT INTO invoices_payment (id, invoice_id, customer_id, psp, psp_reference, method, method_detail,
                                          network, card_last4, amount_minor, currency, captured_at, created_at)
            SELECT g, inv.id, inv.customer_id,
                   CASE WHEN g %% 3 = 0 THEN 'adyen' ELSE 'stripe' END,
                   CASE WHEN g %% 3 = 0 THEN upper(substr(md5('psp' || g), 1, 16))
                        ELSE 'ch_' || substr(md5('ch' || g), 1, 24) END,
                   CASE WHEN g %% 5 = 4 THEN 'bank_transfer' ELSE 'card' END,
                   CASE WHEN g %% 5 = 4 THEN 'sepa_credit' ELSE '' END,
                   CASE WHEN g %% 5 = 4 THEN '' ELSE (ARRAY['visa','visa','mastercard','mastercard','amex',
                        'discover','jcb','unionpay'])[1 + (g / 5) %% 8] END,
                   CASE WHEN g %% 5 = 4 THEN '' ELSE lpad(((g::bigint * 37) %% 10000)::text, 4, '0') END,
                   50000 + (g::bigint * 104729) %% 950000, inv.currency,
                   inv.issued_at + interval '2 days', inv.issued_at + interval '2 days'
            FROM generate_series(1, %(p)s) g JOIN invoices_invoice inv ON inv.id = 1 + (g - 1) / 2"""),
    ]


def _cases_sql() -> list[tuple[str, str]]:
    # State by the case number's residue: most resolved long ago, the open ones spread around today.
    dispute_state = """CASE WHEN g %% 100 < 2 THEN 'inquiry' WHEN g %% 100 < 12 THEN 'needs_response'
        WHEN g %% 100 < 15 THEN 'under_review' WHEN g %% 100 < 45 THEN 'won' WHEN g %% 100 < 75 THEN 'lost'
        WHEN g %% 100 < 85 THEN 'accepted' WHEN g %% 100 < 93 THEN 'expired' ELSE 'closed' END"""
    refund_state = """CASE WHEN g %% 100 < 10 THEN 'pending_approval' WHEN g %% 100 < 13 THEN 'pending_second_approval'
        WHEN g %% 100 < 15 THEN 'approved' WHEN g %% 100 < 20 THEN 'processing' WHEN g %% 100 < 22 THEN 'failed'
        WHEN g %% 100 < 27 THEN 'rejected' WHEN g %% 100 < 30 THEN 'cancelled' ELSE 'succeeded' END"""
    extension_state = """CASE WHEN g %% 10 = 0 THEN 'requested' WHEN g %% 10 = 1 THEN 'approved'
        WHEN g %% 10 = 2 THEN 'rejected' WHEN g %% 10 = 3 THEN 'cancelled' WHEN g %% 10 < 8 THEN 'fulfilled'
        ELSE 'broken' END"""
    return [
        ("disputes", f"""
            WITH base AS (
                SELECT g, {dispute_state} AS state,
                       -- open: due from 10 days ago to 30 days ahead (minute resolution); resolved: the past 3 years
                       CASE WHEN g %% 100 < 15
                            THEN %(now)s + make_interval(mins => (((g::bigint * 7919) %% 57600) - 14400)::int)
                            ELSE %(now)s - make_interval(days => (5 + (g::bigint * 31) %% 1095)::int) END AS due
                FROM generate_series(1, %(d)s) g
            ), codes AS (
                SELECT network, array_agg(id ORDER BY code) AS ids FROM disputes_reasoncode GROUP BY network
            )
            INSERT INTO disputes_dispute (id, reference, assignee_id, priority, due_at, internal_due_at, created_at,
                updated_at, payment_id, amount_minor, currency, network, reason_code_id, psp, psp_dispute_id, stage,
                state, evidence_overridden, submitted_at, resolved_at, escalated_at, packet, packet_sha256)
            SELECT b.g, 'DSP-' || lpad(b.g::text, greatest(6, length(b.g::text)), '0'),
                   CASE WHEN b.g %% 3 = 0 THEN NULL
                        ELSE (%(specs)s::bigint[])[1 + (b.g / 3) %% cardinality(%(specs)s::bigint[])] END,
                   2, b.due, b.due - interval '48 hours', b.due - interval '20 days', b.due - interval '1 day',
                   p.id, greatest(1, p.amount_minor / 2), p.currency,
                   CASE WHEN p.network IN ('visa','mastercard','amex','discover') THEN p.network ELSE 'other' END,
                   coalesce(
                       (SELECT ids[1 + b.g %% cardinality(ids)] FROM codes WHERE codes.network = p.network),
                       (SELECT ids[1 + b.g %% cardinality(ids)] FROM codes WHERE codes.network = 'other')),
                   p.psp,
                   CASE WHEN p.psp = 'adyen' THEN upper(substr(md5('dp' || b.g), 1, 16))
                        ELSE 'dp_' || substr(md5('dp' || b.g), 1, 24) END,
                   CASE WHEN b.state IN ('inquiry', 'closed') THEN 'inquiry'
                        WHEN b.g %% 50 = 7 THEN 'pre_arbitration' ELSE 'chargeback' END,
                   b.state, false,
                   CASE WHEN b.state IN ('under_review', 'won', 'lost') THEN b.due - interval '5 days' END,
                   CASE WHEN b.state NOT IN ('inquiry', 'needs_response', 'under_review') THEN b.due END,
                   NULL, '', ''
            FROM base b JOIN invoices_payment p ON p.id = 2 * b.g - 1"""),
        ("refunds", f"""
            WITH base AS (
                SELECT g, {refund_state} AS state,
                       %(now)s - make_interval(mins => ((g::bigint * 7919) %% (60 * 24 * 1000))::int) AS created
                FROM generate_series(1, %(r)s) g
            )
            INSERT INTO refunds_refund (id, reference, assignee_id, priority, due_at, internal_due_at, created_at,
                updated_at, payment_id, amount_minor, currency, reason, note, requester_id, idempotency_key,
                psp_refund_id, psp_attempt, failure_code, failure_message, approved_at, decided_at, submitted_at,
                last_psp_attempt_at, succeeded_at, failed_at, state)
            SELECT b.g, 'RFD-' || lpad(b.g::text, greatest(6, length(b.g::text)), '0'),
                   CASE WHEN b.g %% 4 = 0 THEN (%(leads)s::bigint[])[1 + b.g %% cardinality(%(leads)s::bigint[])] END,
                   2, b.created + interval '5 days', b.created + interval '3 days', b.created, b.created,
                   p.id, greatest(1, p.amount_minor / 10), p.currency,
                   (ARRAY['duplicate_charge','billing_error','service_outage','goodwill','fraud',
                          'customer_request','other'])[1 + b.g %% 7],
                   '', (%(specs)s::bigint[])[1 + b.g %% cardinality(%(specs)s::bigint[])], NULL,
                   CASE WHEN b.state IN ('processing', 'succeeded', 'failed')
                        THEN 're_' || substr(md5('re' || b.g), 1, 24)
                        ELSE '' END,
                   1, CASE WHEN b.state = 'failed' THEN 'expired_card' ELSE '' END,
                   CASE WHEN b.state = 'failed' THEN 'The card has expired.' ELSE '' END,
                   CASE WHEN b.state IN ('approved', 'processing', 'succeeded', 'failed')
                        THEN b.created + interval '2 hours' END,
                   CASE WHEN b.state IN ('approved', 'processing', 'succeeded', 'failed', 'rejected', 'cancelled')
                        THEN b.created + interval '2 hours' END,
                   CASE WHEN b.state IN ('processing', 'succeeded', 'failed') THEN b.created + interval '3 hours' END,
                   CASE WHEN b.state IN ('processing', 'succeeded', 'failed') THEN b.created + interval '3 hours' END,
                   CASE WHEN b.state = 'succeeded' THEN b.created + interval '4 hours' END,
                   CASE WHEN b.state = 'failed' THEN b.created + interval '4 hours' END,
                   b.state
            FROM base b JOIN invoices_payment p ON p.id = 2 * b.g"""),
        ("extensions", f"""
            WITH base AS (
                SELECT g, {extension_state} AS state,
                       %(now)s - make_interval(days => ((g::bigint * 17) %% 700)::int)
                       + make_interval(days => 20) AS new_due
                FROM generate_series(1, %(e)s) g
            )
            INSERT INTO invoices_paymentextension (id, reference, assignee_id, priority, due_at, internal_due_at,
                created_at, updated_at, invoice_id, new_due_date, original_due_at, days_requested, reason,
                requester_id, customer_broke_promise_recently, decided_by_id, decided_at, decision_reason, closed_at,
                state)
            SELECT b.g, 'EXT-' || lpad(b.g::text, greatest(6, length(b.g::text)), '0'), NULL, 2,
                   date_trunc('day', b.new_due) + interval '1 day' - interval '1 microsecond', NULL,
                   inv.due_at, inv.due_at, inv.id, b.new_due::date, inv.due_at,
                   greatest(1, (b.new_due::date - inv.due_at::date)), 'Customer asked for more time to pay.',
                   (%(specs)s::bigint[])[1 + b.g %% cardinality(%(specs)s::bigint[])], b.g %% 13 = 0,
                   CASE WHEN b.state <> 'requested'
                        THEN (%(leads)s::bigint[])[1 + b.g %% cardinality(%(leads)s::bigint[])] END,
                   CASE WHEN b.state <> 'requested' THEN inv.due_at + interval '1 day' END,
                   CASE WHEN b.state <> 'requested' THEN 'ok' ELSE '' END,
                   CASE WHEN b.state NOT IN ('requested', 'approved') THEN inv.due_at + interval '2 days' END,
                   b.state
            FROM base b JOIN invoices_invoice inv ON inv.id = b.g"""),
    ]


# ---- the journal: one chain per case, hashed by the project's own code -------------------------------

DISPUTE_PATHS = {
    "inquiry": [("create", "", "inquiry")],
    "closed": [("create", "", "inquiry"), ("close_inquiry", "inquiry", "closed")],
    "needs_response": [("create", "", "needs_response")],
    "under_review": [("create", "", "needs_response"), ("submit_evidence", "needs_response", "under_review")],
    "won": [("create", "", "needs_response"), ("submit_evidence", "needs_response", "under_review"),
            ("mark_won", "under_review", "won")],
    "lost": [("create", "", "needs_response"), ("submit_evidence", "needs_response", "under_review"),
             ("mark_lost", "under_review", "lost")],
    "accepted": [("create", "", "needs_response"), ("accept", "needs_response", "accepted")],
    "expired": [("create", "", "needs_response"), ("expire", "needs_response", "expired")],
}
REFUND_PATHS = {
    "pending_approval": [("create", "", "pending_approval")],
    "pending_second_approval": [("create", "", "pending_approval"),
                                ("approve", "pending_approval", "pending_second_approval")],
    "approved": [("create", "", "pending_approval"), ("approve", "pending_approval", "approved")],
    "processing": [("create", "", "pending_approval"), ("approve", "pending_approval", "approved"),
                   ("submit", "approved", "processing")],
    "succeeded": [("create", "", "pending_approval"), ("approve", "pending_approval", "approved"),
                  ("submit", "approved", "processing"), ("mark_succeeded", "processing", "succeeded")],
    "failed": [("create", "", "pending_approval"), ("approve", "pending_approval", "approved"),
               ("submit", "approved", "processing"), ("mark_failed", "processing", "failed")],
    "rejected": [("create", "", "pending_approval"), ("reject", "pending_approval", "rejected")],
    "cancelled": [("create", "", "pending_approval"), ("cancel", "pending_approval", "cancelled")],
}
EXTENSION_PATHS = {
    "requested": [("create", "", "requested")],
    "approved": [("create", "", "requested"), ("approve", "requested", "approved")],
    "rejected": [("create", "", "requested"), ("reject", "requested", "rejected")],
    "cancelled": [("create", "", "requested"), ("cancel", "requested", "cancelled")],
    "fulfilled": [("create", "", "requested"), ("approve", "requested", "approved"),
                  ("fulfil", "approved", "fulfilled")],
    "broken": [("create", "", "requested"), ("approve", "requested", "approved"),
               ("mark_broken", "approved", "broken")],
}
SYSTEM_STEPS = {"expire": "system:celery", "submit": "system:celery", "mark_succeeded": "webhook:stripe",
                "mark_failed": "webhook:stripe", "mark_won": "webhook:stripe", "mark_lost": "webhook:stripe",
                "fulfil": "system:celery", "mark_broken": "system:celery"}
JOURNAL_COLUMNS = ("case_type", "case_id", "case_reference", "seq", "transition", "source_state", "target_state",
                   "actor_id", "actor_label", "reason", "context", "created_at", "prev_hash", "key_id", "hash")


def _journal_partitions(cursor) -> int:
    """One partition per month the journal will span (the cases' months up to the last step, a few days
    after), made before the load so the rows go straight to their month, not to DEFAULT (migration
    journal.0006's owner-only function, which the loader may call as the owner)."""
    cursor.execute("""
        SELECT count(backoffice_journal_add_partition(m)) FROM generate_series(
            date_trunc('month', (SELECT min(created_at) FROM (SELECT min(created_at) AS created_at FROM disputes_dispute
                                 UNION ALL SELECT min(created_at) FROM refunds_refund
                                 UNION ALL SELECT min(created_at) FROM invoices_paymentextension) firsts)),
            now() + interval '1 month', interval '1 month') AS m""")
    return int(cursor.fetchone()[0])


def _journal_chain_heads(cursor) -> int:
    """The chain heads the journal's trigger keeps, from the loaded rows (the load ran without triggers)."""
    cursor.execute("""
        INSERT INTO journal_journalchainhead (case_type, case_id, seq, hash)
        SELECT DISTINCT ON (case_type, case_id) case_type, case_id, seq, hash FROM journal_journalentry
        ORDER BY case_type, case_id, seq DESC""")
    return cursor.rowcount


def _journal_chunk(args) -> int:
    """Hash and COPY the chains of one range of cases (runs in a worker process)."""
    import json

    from django.db import connection as conn

    from backoffice.journal.models import GENESIS_HASH, JournalEntry
    from backoffice.journal.signing import current_key

    key_id = current_key()[0]  # rows are signed with the journal's HMAC key, as the app signs them
    case_type, table, first, last, people = args
    paths = {"dispute": DISPUTE_PATHS, "refund": REFUND_PATHS, "extension": EXTENSION_PATHS}[case_type]
    with conn.cursor() as cursor:
        cursor.execute(f"SELECT id, reference, state, created_at FROM {table} WHERE id BETWEEN %s AND %s ORDER BY id",
                       [first, last])
        cases = cursor.fetchall()
    buffer = io.StringIO()
    rows = 0
    for case_id, reference, state, created in cases:
        prev = GENESIS_HASH
        for seq, (name, source, target) in enumerate(paths[state], start=1):
            system = SYSTEM_STEPS.get(name)
            actor_id = None if system else people[(case_id + seq) % len(people)][0]
            label = system or people[(case_id + seq) % len(people)][1]
            entry = JournalEntry(case_type=case_type, case_id=case_id, case_reference=reference, seq=seq,
                                 transition=name, source_state=source, target_state=target, actor_id=actor_id,
                                 actor_label=label, reason="" if seq == 1 else "bench",
                                 context={"request_id": f"bench-{case_type}-{case_id}-{seq}"},
                                 created_at=created + timedelta(hours=seq - 1), prev_hash=prev, key_id=key_id)
            entry.hash = entry.compute_hash()
            prev = entry.hash
            values = [case_type, str(case_id), reference, str(seq), name, source, target,
                      "" if actor_id is None else str(actor_id), label, entry.reason,
                      json.dumps(entry.context), entry.created_at.isoformat(), entry.prev_hash, key_id, entry.hash]
            buffer.write("\t".join(v.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n") if v else
                                   ("\\N" if i == 7 else "") for i, v in enumerate(values)) + "\n")
            rows += 1
    with conn.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        with cursor.copy(f"COPY journal_bench_staging ({', '.join(JOURNAL_COLUMNS)}) FROM STDIN") as copy:
            copy.write(buffer.getvalue())
    conn.close()
    return rows


def _journal(scale: Scale, *, now: datetime, workers: int) -> int:
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS journal_bench_staging")
        cursor.execute("CREATE UNLOGGED TABLE journal_bench_staging "
                       "(LIKE journal_journalentry INCLUDING DEFAULTS EXCLUDING IDENTITY)")
        cursor.execute("ALTER TABLE journal_bench_staging DROP COLUMN id")
        cursor.execute("SELECT id, username FROM auth_user WHERE username LIKE 'spec%%' OR username LIKE 'lead%%' "
                       "ORDER BY id")
        people = cursor.fetchall()
    connection.close()
    chunk = 20_000
    jobs = []
    for case_type, table, count in (("dispute", "disputes_dispute", scale.disputes),
                                    ("refund", "refunds_refund", scale.refunds),
                                    ("extension", "invoices_paymentextension", scale.extensions)):
        for first in range(1, count + 1, chunk):
            jobs.append((case_type, table, first, min(count, first + chunk - 1), people))
    context = multiprocessing.get_context("fork")
    with context.Pool(workers) as pool:
        rows = sum(pool.imap_unordered(_journal_chunk, jobs))
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        # In time order, as the product writes it (ids follow created_at).
        cursor.execute(f"INSERT INTO journal_journalentry ({', '.join(JOURNAL_COLUMNS)}) "
                       f"SELECT {', '.join(JOURNAL_COLUMNS)} FROM journal_bench_staging ORDER BY created_at, case_id")
        cursor.execute("DROP TABLE journal_bench_staging")
    return rows


# ---- fast path: the same chains hashed inside PostgreSQL, checked against the project's own code ----------


def _paths_values() -> str:
    rows = []
    for case_type, paths in (("dispute", DISPUTE_PATHS), ("refund", REFUND_PATHS), ("extension", EXTENSION_PATHS)):
        for state, steps in paths.items():
            for seq, (name, source, target) in enumerate(steps, start=1):
                system = SYSTEM_STEPS.get(name)
                rows.append(f"('{case_type}', '{state}', {seq}, '{name}', '{source}', '{target}', "
                            f"{repr(system) if system else 'NULL'}::text)")
    return ",\n".join(rows)


def _hmac_pads() -> dict[str, Any]:
    """The journal's current HMAC key as RFC 2104 inner/outer pads, so PostgreSQL's sha256() computes
    HMAC-SHA256 (sha256(opad || sha256(ipad || message))) exactly as backoffice/journal/signing.py does."""
    import hashlib

    from backoffice.journal.signing import current_key

    key_id, secret = current_key()
    key = hashlib.sha256(secret).digest() if len(secret) > 64 else secret
    key = key.ljust(64, b"\0")
    return {"key_id": key_id, "ipad": bytes(b ^ 0x36 for b in key), "opad": bytes(b ^ 0x5C for b in key)}


# The canonical encoding of JournalEntry.canonical_payload (json.dumps sort_keys, compact separators) for
# the plain ASCII values the bench writes, with the key id the HMAC covers; _journal_sql_checked compares
# it with compute_hash().
_ROW_JSON = """'{"actor_id":' || coalesce(a.actor_id::text, 'null') || ',"actor_label":"' || a.label
    || '","case_id":' || c.id || ',"case_reference":"' || c.reference || '","case_type":"' || c.case_type
    || '","context":{"request_id":"bench-' || c.case_type || '-' || c.id || '-' || p.seq
    || '"},"created_at":"' || to_char((c.created_at + make_interval(hours => p.seq - 1)) AT TIME ZONE 'UTC',
                                       'YYYY-MM-DD"T"HH24:MI:SS.US') || '+00:00'
    || '","key_id":"' || %(key_id)s::text
    || '","reason":"' || CASE WHEN p.seq = 1 THEN '' ELSE 'bench' END || '","seq":' || p.seq
    || ',"source_state":"' || p.src || '","target_state":"' || p.tgt || '","transition":"' || p.transition || '"}'"""


def _journal_sql() -> str:
    step = """SELECT {prev} AS prev_hash, c.case_type, c.id, c.reference, c.state, c.created_at, p.seq, p.transition,
                  p.src, p.tgt, a.actor_id, a.label,
                  encode(sha256(%(opad)s::bytea || sha256(%(ipad)s::bytea
                         || convert_to({prev} || {json}, 'UTF8'))), 'hex') AS hash
           FROM {source} JOIN paths p ON p.case_type = c.case_type AND p.state = c.state AND p.seq = {seq}
           CROSS JOIN LATERAL (SELECT CASE WHEN p.system IS NULL
                                           THEN (%(ids)s::bigint[])[1 + (c.id + p.seq) %% %(n)s] END AS actor_id,
                                      coalesce(p.system, (%(labels)s::text[])[1 + (c.id + p.seq) %% %(n)s])
                                      AS label) a"""
    anchor = step.format(prev="repeat('0', 64)", json=_ROW_JSON, source="cases c", seq="1")
    recursive = step.format(prev="c.hash", json=_ROW_JSON, seq="c.seq + 1", source="chain c")
    return f"""
        WITH RECURSIVE paths (case_type, state, seq, transition, src, tgt, system) AS (VALUES {_paths_values()}),
        cases AS (
            SELECT 'dispute'::text AS case_type, id, reference, state, created_at FROM disputes_dispute
            UNION ALL SELECT 'refund', id, reference, state, created_at FROM refunds_refund
            UNION ALL SELECT 'extension', id, reference, state, created_at FROM invoices_paymentextension
        ),
        chain AS ({anchor} UNION ALL {recursive})
        INSERT INTO journal_journalentry ({', '.join(JOURNAL_COLUMNS)})
        SELECT case_type, id, reference, seq, transition, src, tgt, actor_id, label,
               CASE WHEN seq = 1 THEN '' ELSE 'bench' END,
               jsonb_build_object('request_id', 'bench-' || case_type || '-' || id || '-' || seq),
               created_at + make_interval(hours => seq - 1), prev_hash, %(key_id)s::text, hash
        FROM chain ORDER BY created_at + make_interval(hours => seq - 1), id"""


def _journal_sql_checked() -> int | None:
    """Load the journal by SQL; keep it only if a sample of rows hashes the same in the project's own code."""
    from backoffice.journal.models import JournalEntry

    with connection.cursor() as cursor:
        cursor.execute("SELECT id, username FROM auth_user WHERE username LIKE 'spec%%' OR username LIKE 'lead%%' "
                       "ORDER BY id")
        people = cursor.fetchall()
        cursor.execute("SET session_replication_role = replica")
        cursor.execute(_journal_sql(), {"ids": [p[0] for p in people], "labels": [p[1] for p in people],
                                        "n": len(people), **_hmac_pads()})
        rows = cursor.rowcount
    sample = list(JournalEntry.objects.order_by("?")[:200]) if rows < 200_000 else list(
        JournalEntry.objects.filter(id__in=range(1, rows, max(1, rows // 200))))
    bad = [e.pk for e in sample if e.compute_hash() != e.hash]
    if bad or not sample:
        _log(f"SQL-hashed journal does not match the project's hashing ({len(bad)} of {len(sample)} rows): "
             "falling back to hashing in Python")
        with connection.cursor() as cursor:
            cursor.execute("SET session_replication_role = replica")
            cursor.execute("TRUNCATE journal_journalentry")
        return None
    return rows
