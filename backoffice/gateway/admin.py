from django.contrib import admin

from backoffice.admin_mixins import ReadOnlyAdmin
from backoffice.admin_money import money_display

from .models import SandboxRefund


@admin.register(SandboxRefund)
class SandboxRefundAdmin(ReadOnlyAdmin):
    """What the sandbox PSP has executed: read-only, it stands for the PSP's own records."""

    list_display = ["psp_refund_id", "idempotency_key", "payment_reference", "amount", "currency", "status",
                    "failure_code", "attempts", "created_at"]
    list_filter = ["status", "currency"]
    search_fields = ["=idempotency_key", "=psp_refund_id", "=payment_reference"]
    show_full_result_count = False
    amount = money_display("amount_minor")
