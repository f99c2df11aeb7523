from rest_framework import serializers
from rest_framework.routers import SimpleRouter

from backoffice.api.viewsets import CaseViewSet, UserRefField

from .models import Ticket
from .registry import TicketFilter


class TicketSerializer(serializers.ModelSerializer):
    assignee = UserRefField(read_only=True)

    class Meta:
        model = Ticket
        fields = ["id", "reference", "state", "assignee", "created_at", "title"]


class TicketViewSet(CaseViewSet):
    case_type_key = "tickets"
    serializer_class = TicketSerializer
    filterset_class = TicketFilter

    def get_queryset(self):
        return Ticket.objects.select_related("assignee").order_by("id")


router = SimpleRouter()
router.register("tickets", TicketViewSet, basename="ticket")
urlpatterns = router.urls
