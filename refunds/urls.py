"""Refund pages under /refunds/."""

from django.urls import path

from . import views

app_name = "refunds"
urlpatterns = [
    path("new/", views.refund_new, name="new"),
    path("needs-attention/", views.needs_attention, name="needs-attention"),
    path("<int:pk>/", views.RefundDetailView.as_view(), name="detail"),
    path("<int:pk>/credit-note.pdf", views.credit_note_download, name="credit-note"),
]
