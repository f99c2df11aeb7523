from django.urls import path

from backoffice.journal.views import audit_verify_request

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("queues/counts.json", views.queue_counts_view, name="queue-counts"),
    path("queues/<slug:name>/", views.queue, name="queue"),
    path("queues/<slug:name>/bulk/", views.queue_bulk, name="queue-bulk"),
    path("cases/<slug:type_key>/<int:pk>/claim/", views.case_claim_view, name="case-claim"),
    path("cases/<slug:type_key>/<int:pk>/assign/", views.case_assign_view, name="case-assign"),
    path("cases/<slug:type_key>/<int:pk>/comment/", views.case_comment_view, name="case-comment"),
    path("cases/<slug:type_key>/<int:pk>/attach/", views.case_attach_view, name="case-attach"),
    path("cases/<slug:type_key>/<int:pk>/files/<int:file_id>/", views.case_file_view, name="case-file"),
    path("cases/<slug:type_key>/<int:pk>/transition/<slug:name>/", views.case_transition_view,
         name="case-transition"),
    path("audit/verify/", audit_verify_request, name="audit-verify"),
    path("profile/", views.profile_view, name="profile"),
    path("views/", views.saved_view_create_view, name="saved-view-create"),
    path("views/<int:pk>/delete/", views.saved_view_delete_view, name="saved-view-delete"),
]
