"""Reconciliation pages under /reconciliation/."""

from django.urls import path

from . import views

app_name = "reconciliation"
urlpatterns = [
    path("breaks/<int:pk>/", views.BreakDetailView.as_view(), name="detail"),
    path("imports/", views.import_upload, name="imports"),
    path("imports/<int:pk>/", views.import_detail, name="import-detail"),
    path("uploads/<int:pk>/", views.upload_detail, name="upload-detail"),
]
