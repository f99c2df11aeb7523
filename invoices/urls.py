"""Payment extension pages, mounted at ``/extensions/``."""

from django.urls import path
from django.views.generic import RedirectView

from . import views

app_name = "extensions"
urlpatterns = [
    path("", RedirectView.as_view(url="/queues/all/?type=extensions", permanent=False), name="list"),
    path("new/", views.extension_request_view, name="new"),
    path("<int:pk>/", views.ExtensionDetailView.as_view(), name="detail"),
]
