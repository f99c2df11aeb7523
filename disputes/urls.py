"""Dispute pages, under /disputes/."""

from django.urls import path

from . import views

app_name = "disputes"
urlpatterns = [
    path("", views.dispute_index, name="index"),
    path("new/", views.dispute_new, name="new"),
    path("import/", views.report_import, name="import"),
    path("import/<int:pk>/", views.report_import_detail, name="import-detail"),
    path("<int:pk>/", views.DisputeDetailView.as_view(), name="detail"),
    path("<int:pk>/evidence/", views.evidence_upload, name="evidence"),
    path("<int:pk>/packet.pdf", views.packet_pdf, name="packet"),
    path("<int:pk>/evidence/<int:item_id>/file", views.evidence_file, name="evidence-file"),
    path("<int:pk>/cover-letter/", views.cover_letter_save, name="cover-letter"),
    path("<int:pk>/propose-accept/", views.propose_accept, name="propose-accept"),
    path("<int:pk>/decline-proposal/", views.decline_proposal, name="decline-proposal"),
    path("<int:pk>/psp-resend/", views.psp_resend, name="psp-resend"),
]
