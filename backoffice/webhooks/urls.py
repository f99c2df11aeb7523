from django.urls import path

from . import views

app_name = "webhooks"

urlpatterns = [
    path("", views.inbox, name="inbox"),
    path("deliveries/<int:pk>/", views.delivery_detail, name="delivery"),
    path("deliveries/<int:pk>/replay/", views.delivery_replay, name="replay"),
    path("events/<int:pk>/link/", views.event_link, name="link"),
    path("stripe/", views.stripe_endpoint, name="stripe"),
    path("adyen/", views.adyen_endpoint, name="adyen"),
]
