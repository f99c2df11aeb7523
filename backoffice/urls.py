from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from backoffice.web import views as web
from invoices import ledger_views

urlpatterns = [
    path("healthz", web.healthz, name="healthz"),
    path("accounts/", include("backoffice.accounts.urls")),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include("backoffice.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves its script as a file (no inline script, for the Content-Security-Policy).
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("notifications/", include("backoffice.notifications.urls")),
    path("", include("backoffice.insight.urls")),
    path("webhooks/", include("backoffice.webhooks.urls")),
    path("", include("backoffice.web.urls")),
    path("search/", web.search_view, name="search"),
    path("customers/<int:pk>/", ledger_views.customer_detail, name="customer-detail"),
    path("invoices/<int:pk>/", ledger_views.invoice_detail, name="invoice-detail"),
    path("payments/<int:pk>/", ledger_views.payment_detail, name="payment-detail"),
    path("disputes/", include("disputes.urls")),
    path("refunds/", include("refunds.urls")),
    path("extensions/", include("invoices.urls")),
    path("reconciliation/", include("reconciliation.urls")),
]

handler404 = "backoffice.middleware.not_found"
