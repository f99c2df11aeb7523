from django.urls import include, path

from backoffice.web.views import CaseDetailView

urlpatterns = [
    path("tickets/<int:pk>/", CaseDetailView.as_view(type_key="tickets"), name="ticket-page"),
    path("api/v1/", include("tests.testapp.api")),
    path("", include("backoffice.urls")),
]
handler404 = "backoffice.middleware.not_found"
