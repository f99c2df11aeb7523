"""Admin for the ledger and for payment extensions.

The ledger comes from the billing system and the PSPs, so the admin shows it read-only:
writes go through ``invoices.services`` (which keeps invoice totals) and the PSP integration.
Extensions are read-only too; approve, reject and cancel are admin actions that ask for a reason
and call the same services as the pages and the API (so the four-eyes rule and the approval
limits hold here as well, superusers included). Changelists join what they show and skip the
full-table COUNT.
"""

from __future__ import annotations

from django.contrib import admin

from backoffice.admin_mixins import ReadOnlyAdminMixin, transition_action
from backoffice.admin_money import money_display
from backoffice.web.templatetags.ui import money_text

from .models import Customer, Invoice, InvoiceLine, Payment, PaymentExtension


@admin.register(Customer)
class CustomerAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["name", "email", "country", "default_currency", "external_id", "created_at"]
    list_filter = ["country", "default_currency"]
    search_fields = ["name", "email", "=external_id"]
    show_full_result_count = False
    list_per_page = 50


class InvoiceLineInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = InvoiceLine
    extra = 0
    fields = ["description", "kind", "quantity", "unit", "unit_price", "line_amount"]
    readonly_fields = fields
    unit_price = money_display("unit_price_minor", description="Unit price", currency_of=lambda o: o.invoice.currency)
    line_amount = money_display("amount_minor", currency_of=lambda o: o.invoice.currency)


class PaymentInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Payment
    extra = 0
    fields = [
        "psp",
        "psp_reference",
        "method",
        "network",
        "card_last4",
        "amount",
        "currency",
        "captured_at",
    ]
    readonly_fields = fields
    amount = money_display("amount_minor")
    show_change_link = True


@admin.register(Invoice)
class InvoiceAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "number",
        "customer",
        "status",
        "amount",
        "issued_at",
        "due_at",
        "paid_at",
        "dunning_paused",
    ]
    list_filter = ["status", "dunning_paused"]
    search_fields = ["=number", "customer__name"]
    list_select_related = ["customer"]
    show_full_result_count = False
    list_per_page = 50
    inlines = [InvoiceLineInline, PaymentInline]

    @admin.display(description="Amount", ordering="amount_minor")
    def amount(self, obj: Invoice) -> str:
        return money_text(obj.amount_minor, obj.currency)


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "psp_reference",
        "psp",
        "customer",
        "invoice",
        "method",
        "method_detail",
        "network",
        "card_last4",
        "amount",
        "captured_at",
    ]
    list_filter = ["psp", "method", "network"]
    search_fields = ["=psp_reference", "=invoice__number", "customer__name"]
    list_select_related = ["customer", "invoice"]
    show_full_result_count = False
    list_per_page = 50

    @admin.display(description="Amount", ordering="amount_minor")
    def amount(self, obj: Payment) -> str:
        return money_text(obj.amount_minor, obj.currency)


@admin.register(PaymentExtension)
class PaymentExtensionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "reference",
        "state",
        "invoice",
        "customer",
        "original_due_at",
        "new_due_date",
        "days_requested",
        "requester",
        "decided_by",
        "customer_broke_promise_recently",
        "created_at",
    ]
    list_filter = ["state", "customer_broke_promise_recently", "invoice__currency"]
    search_fields = ["=reference", "=invoice__number", "invoice__customer__name"]
    list_select_related = ["invoice__customer", "requester", "decided_by"]
    show_full_result_count = False
    list_per_page = 50
    ordering = ["-id"]
    actions = [
        transition_action("approve", "Approve"),
        transition_action("reject", "Reject"),
        transition_action("cancel", "Cancel"),
    ]

    @admin.display(description="Customer", ordering="invoice__customer__name")
    def customer(self, obj: PaymentExtension) -> str:
        return obj.invoice.customer.name
