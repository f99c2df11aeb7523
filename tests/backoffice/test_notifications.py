import pytest
from django.utils import timezone

from backoffice.notifications.models import Notification
from backoffice.notifications.services import alert_claim_and_notify


@pytest.mark.django_db
def test_alert_is_claimed_once_and_notifications_can_be_read(client, specialist, django_capture_on_commit_callbacks):
    due = timezone.now()
    kwargs = dict(case_type="dispute", case_id=7, case_reference="DSP-000007", kind="reminder", due_at=due,
                  offset_days=3, recipients=[specialist], title="DSP-000007: evidence due in 3 day(s)",
                  body="Internal due soon.", url="/disputes/7/")
    with django_capture_on_commit_callbacks(execute=True):
        first = alert_claim_and_notify(**kwargs)
        second = alert_claim_and_notify(**kwargs)
    assert first is not None and second is None
    assert Notification.objects.filter(recipient=specialist).count() == 1

    client.force_login(specialist)
    page = client.get("/queues/all/").content.decode()
    assert 'data-unread="1"' in page
    assert "evidence due in 3 day(s)" in client.get("/notifications/").content.decode()
    client.post("/notifications/read/")
    assert Notification.objects.filter(recipient=specialist, read_at__isnull=True).count() == 0


@pytest.mark.django_db
def test_dashboard_shows_kpis(client, lead):
    from django.core.cache import cache

    from tests.disputes.factories import DisputeFactory

    cache.clear()
    DisputeFactory(internal_due_at=timezone.now() - timezone.timedelta(hours=1))
    client.force_login(lead)
    html = client.get("/dashboard/").content.decode()
    assert 'data-kpi="overdue_disputes" class="due-past">1<' in html
