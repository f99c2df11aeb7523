"""Claim, reassign, comments and attachments: shared by every case type."""

from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile

from backoffice.cases.models import Attachment, Comment
from backoffice.cases.services import case_assign, case_attachment_add, case_claim, case_comment_add
from backoffice.errors import ConcurrentChange, InvalidInput, PermissionDenied
from backoffice.journal.models import JournalEntry
from tests.backoffice.factories import make_ticket
from tests.testapp.models import Ticket

PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
       b"\x00\x00\x00\rIDATx\xdac\xfc\xcf\xc0P\x0f\x00\x04\x85\x01\x80\x84\xa9\x8c!\x00\x00\x00\x00IEND\xaeB`\x82")


def stored_files():
    root = Path(settings.MEDIA_ROOT)
    return sorted(p for p in root.rglob("*") if p.is_file())


@pytest.mark.django_db
def test_reference_is_human_readable(specialist):
    ticket = make_ticket(requester=specialist)
    assert ticket.reference == f"TKT-{ticket.pk:06d}"


@pytest.mark.django_db
def test_claim_then_another_specialist_cannot_take_it_but_a_lead_can_reassign(specialist, specialist2, lead):
    ticket = make_ticket(requester=specialist)
    case_claim(model=Ticket, pk=ticket.pk, actor=specialist)
    with pytest.raises(ConcurrentChange) as err:
        case_claim(model=Ticket, pk=ticket.pk, actor=specialist2)
    assert err.value.code == "already_assigned"
    with pytest.raises(PermissionDenied):
        case_assign(model=Ticket, pk=ticket.pk, actor=specialist2, assignee_id=specialist2.pk)

    case_assign(model=Ticket, pk=ticket.pk, actor=lead, assignee_id=specialist2.pk, reason="shift change")

    assert Ticket.objects.get(pk=ticket.pk).assignee == specialist2
    moves = JournalEntry.objects.filter(case_id=ticket.pk, transition__in=["claim", "reassign"]).order_by("seq")
    assert [(m.transition, m.context["to_assignee"]) for m in moves] == [("claim", "spec1"), ("reassign", "spec2")]


@pytest.mark.django_db
def test_cases_cannot_be_assigned_to_an_auditor(lead, auditor, specialist):
    ticket = make_ticket(requester=specialist)
    with pytest.raises(InvalidInput):
        case_assign(model=Ticket, pk=ticket.pk, actor=lead, assignee_id=auditor.pk)


@pytest.mark.django_db
def test_auditor_cannot_claim_comment_or_attach(auditor, specialist):
    ticket = make_ticket(requester=specialist)
    with pytest.raises(PermissionDenied):
        case_claim(model=Ticket, pk=ticket.pk, actor=auditor)
    with pytest.raises(PermissionDenied):
        case_comment_add(case=ticket, author=auditor, body="looks fine")
    with pytest.raises(PermissionDenied):
        case_attachment_add(case=ticket, uploaded_by=auditor, upload=SimpleUploadedFile("a.png", PNG))
    assert Comment.objects.count() == 0 and Attachment.objects.count() == 0


@pytest.mark.django_db
def test_empty_comment_is_refused(specialist):
    ticket = make_ticket(requester=specialist)
    with pytest.raises(InvalidInput):
        case_comment_add(case=ticket, author=specialist, body="   ")


@pytest.mark.django_db
def test_attachment_is_stored_under_a_generated_name_with_its_hash(specialist):
    ticket = make_ticket(requester=specialist)
    attachment = case_attachment_add(case=ticket, uploaded_by=specialist,
                                     upload=SimpleUploadedFile("../../etc/receipt.png", PNG))
    assert attachment.original_name == "receipt.png"
    assert attachment.mime_type == "image/png" and attachment.size == len(PNG)
    assert "receipt" not in attachment.file.name and attachment.file.name.endswith(".png")
    assert Path(attachment.file.path).read_bytes() == PNG


@pytest.mark.django_db
@pytest.mark.parametrize("name,content,code", [
    ("invoice.pdf", b"MZ\x90\x00 this is an exe", "file_content_mismatch"),
    ("photo.png", b"%PDF-1.4 not a png", "file_content_mismatch"),
    ("notes.txt", b"\x00\x01\x02binary", "file_content_mismatch"),
    ("tool.exe", b"MZ\x90\x00", "file_type_not_allowed"),
    ("empty.txt", b"", "file_empty"),
])
def test_bad_files_are_refused_and_nothing_is_stored(specialist, name, content, code):
    ticket = make_ticket(requester=specialist)
    before = stored_files()
    with pytest.raises(InvalidInput) as err:
        case_attachment_add(case=ticket, uploaded_by=specialist, upload=SimpleUploadedFile(name, content))
    assert err.value.code == code
    assert Attachment.objects.count() == 0
    assert stored_files() == before


@pytest.mark.django_db
def test_too_large_file_is_refused(specialist, settings):
    settings.ATTACHMENT_MAX_BYTES = 10
    ticket = make_ticket(requester=specialist)
    with pytest.raises(InvalidInput) as err:
        case_attachment_add(case=ticket, uploaded_by=specialist, upload=SimpleUploadedFile("a.txt", b"x" * 11))
    assert err.value.code == "file_too_large" and "limit is 10 bytes" in err.value.message
