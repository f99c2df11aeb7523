from django.urls import path

from . import dashboard, views
from .metrics_view import metrics

urlpatterns = [
    path("metrics", metrics, name="metrics"),
    path("dashboard/", dashboard.dashboard, name="dashboard"),
    path("dashboard/<slug:name>.csv", dashboard.dashboard_csv, name="dashboard-csv"),
    path("audit/", views.audit, name="audit"),
    path("audit/export.csv", views.audit_export, name="audit-export"),
    path("audit/cases/<slug:case_type>/<int:pk>/", views.audit_case_history, name="audit-case-history"),
    path("audit/cases/<slug:case_type>/<int:pk>/history.pdf", views.audit_case_history_pdf,
         name="audit-case-history-pdf"),
]
