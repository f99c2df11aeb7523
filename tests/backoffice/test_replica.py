"""The read-replica router against a real streaming standby (``make standby`` / ``.ci/standby.sh``).

Dashboards, the audit search, its export and the audit API read from the standby; every write,
every read inside a transaction and every other page stay on the primary."""

from __future__ import annotations

import os
import time

import dj_database_url
import pytest
from django.db import connections, transaction
from django.test.utils import CaptureQueriesContext

from backoffice.db.routers import REPLICA_DB_ALIAS, ReplicaRouter, replica_reads
from disputes.models import Dispute
from tests.disputes.factories import DisputeFactory

pytestmark = [pytest.mark.postgres, pytest.mark.replica,
              pytest.mark.django_db(transaction=True, databases=["default", "replica"])]


@pytest.fixture
def standby(settings):
    """Point the ``replica`` alias at the standby's copy of this test database, and route to it."""
    url = dj_database_url.parse(os.environ["DATABASE_REPLICA_URL"])
    replica = connections[REPLICA_DB_ALIAS]
    saved = dict(replica.settings_dict)
    replica.close()
    replica.settings_dict.update(HOST=url["HOST"], PORT=url["PORT"], USER=url["USER"],
                                 PASSWORD=url.get("PASSWORD", ""),
                                 NAME=connections["default"].settings_dict["NAME"])
    settings.REPLICA_READS = True
    try:
        yield replica
    finally:
        replica.close()
        replica.settings_dict.clear()
        replica.settings_dict.update(saved)


def wait_for_replay(replica, timeout: float = 15.0) -> None:
    """Until the standby has replayed everything the primary has written so far."""
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_lsn()")
        lsn = cursor.fetchone()[0]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with replica.cursor() as cursor:
            cursor.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [lsn])
            if cursor.fetchone()[0]:
                return
        time.sleep(0.05)
    pytest.fail("the standby did not replay the primary's WAL in time")


def _tables(ctx) -> str:
    return " ".join(q["sql"] for q in ctx.captured_queries)


def test_the_replica_is_a_read_only_streaming_standby(standby):
    with standby.cursor() as cursor:
        cursor.execute("SELECT pg_is_in_recovery()")
        assert cursor.fetchone()[0] is True
        with pytest.raises(Exception, match="read-only"):
            cursor.execute("CREATE TABLE should_fail (id int)")


def test_audit_dashboard_and_audit_api_read_the_standby(standby, client, lead, api):
    dispute = DisputeFactory()
    client.force_login(lead)
    wait_for_replay(standby)
    for url in (f"/audit/?q={dispute.reference}", "/dashboard/", "/api/v1/audit/transitions/?case_type=dispute"):
        http = api(lead) if url.startswith("/api/") else client
        with CaptureQueriesContext(standby) as on_replica, \
                CaptureQueriesContext(connections["default"]) as on_primary:
            response = http.get(url)
        assert response.status_code == 200, url
        assert on_replica.captured_queries, f"{url} read nothing from the standby"
        if "audit" in url:
            assert "journal_journalentry" in _tables(on_replica)
            assert "journal_journalentry" not in _tables(on_primary), f"{url} read the journal on the primary"
            assert dispute.reference in response.content.decode()
    with CaptureQueriesContext(standby) as on_replica:
        export = client.get(f"/audit/export.csv?q={dispute.reference}")
        body = b"".join(export.streaming_content).decode()
    assert dispute.reference in body and "journal_journalentry" in _tables(on_replica)


def test_writes_transactions_and_other_pages_stay_on_the_primary(standby, client, lead):
    router = ReplicaRouter()
    with replica_reads():
        assert router.db_for_read(Dispute) == REPLICA_DB_ALIAS
        assert router.db_for_write(Dispute) == "default"
        with transaction.atomic():  # a service's reads must see its own writes: primary
            assert router.db_for_read(Dispute) == "default"
    assert router.db_for_read(Dispute) == "default"  # not opted in
    dispute = DisputeFactory()
    client.force_login(lead)
    wait_for_replay(standby)
    with CaptureQueriesContext(standby) as on_replica:
        assert client.get(f"/disputes/{dispute.pk}/").status_code == 200
        assert client.get("/queues/all/?type=disputes").status_code == 200
    assert not on_replica.captured_queries
