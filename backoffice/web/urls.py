from django.urls import path
from django.views.generic import RedirectView

from . import views

urlpatterns = [
    path("", RedirectView.as_view(url="/queues/mine/", permanent=False), name="home"),
    path("queues/<slug:name>/", views.queue, name="queue"),
    path("queues/<slug:name>/bulk/", views.queue_bulk, name="queue-bulk"),
    path("cases/<slug:type_key>/<int:pk>/claim/", views.case_claim_view, name="case-claim"),
    path("cases/<slug:type_key>/<int:pk>/assign/", views.case_assign_view, name="case-assign"),
    path("cases/<slug:type_key>/<int:pk>/comment/", views.case_comment_view, name="case-comment"),
    path("cases/<slug:type_key>/<int:pk>/attach/", views.case_attach_view, name="case-attach"),
    path("cases/<slug:type_key>/<int:pk>/transition/<slug:name>/", views.case_transition_view,
         name="case-transition"),
]
