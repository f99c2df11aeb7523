"""``/api/v1/``: the token endpoint, the audit endpoints and each app's routes."""

from django.urls import include, path

from .views import AuditTransitionsView, AuditVerifyView, TokenView

urlpatterns = [
    path("auth/token/", TokenView.as_view(), name="api-token"),
    path("audit/transitions/", AuditTransitionsView.as_view(), name="api-audit-transitions"),
    path("audit/verify/", AuditVerifyView.as_view(), name="api-audit-verify"),
    path("", include("invoices.api")),
    path("", include("disputes.api")),
    path("", include("refunds.api")),
    path("", include("reconciliation.api")),
]
