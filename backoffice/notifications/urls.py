from django.urls import path

from . import views

urlpatterns = [
    path("", views.notifications, name="notifications"),
    path("read/", views.notifications_mark_read, name="notifications-read"),
]
