"""A case's comments and attachments are part of its record: the admin lists them, and nobody — a superuser
neither — changes or deletes one there (the case services are the only writers)."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from backoffice.cases.models import Attachment, Comment
from backoffice.cases.services import case_attachment_add, case_comment_add
from tests.disputes.factories import DisputeFactory

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.mark.django_db
def test_a_superuser_sees_comments_and_attachments_and_can_delete_neither(client, superuser_lead, specialist):
    dispute = DisputeFactory(assignee=specialist)
    comment = case_comment_add(case=dispute, author=specialist, body="Customer called, sends receipts today")
    attachment = case_attachment_add(case=dispute, uploaded_by=specialist,
                                     upload=SimpleUploadedFile("receipt.pdf", PDF, content_type="application/pdf"))
    client.force_login(superuser_lead)

    assert client.get("/admin/cases/comment/").status_code == 200
    assert "receipt.pdf" in client.get("/admin/cases/attachment/").content.decode()
    for kind, row in (("comment", comment), ("attachment", attachment)):
        assert client.get(f"/admin/cases/{kind}/{row.pk}/delete/").status_code == 403
        client.post(f"/admin/cases/{kind}/{row.pk}/delete/", {"post": "yes"})
        client.post(f"/admin/cases/{kind}/", {"action": "delete_selected", "_selected_action": [row.pk],
                                               "post": "yes"})
        client.post(f"/admin/cases/{kind}/{row.pk}/change/", {"body": "rewritten"})
    assert Comment.objects.get(pk=comment.pk).body == "Customer called, sends receipts today"
    assert Attachment.objects.filter(pk=attachment.pk).exists()
