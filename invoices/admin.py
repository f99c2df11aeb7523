"""Admin for the ledger.

The ledger comes from the billing system and the PSPs, so the admin shows it read-only:
writes go through ``invoices.services`` (which keeps invoice totals) and the PSP integration.
Changelists join what they show and skip the full-table COUNT.
"""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from backoffice.money import format_minor

from .models import Customer, Invoice, InvoiceLine, Payment


class ReadOnlyAdminMixin:
    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


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
    fields = ["description", "kind", "quantity", "unit", "unit_price_minor", "amount_minor"]
    readonly_fields = fields


class PaymentInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Payment
    extra = 0
    fields = [
        "psp",
        "psp_reference",
        "method",
        "network",
        "card_last4",
        "amount_minor",
        "currency",
        "captured_at",
    ]
    readonly_fields = fields
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
        return format_minor(obj.amount_minor, obj.currency)


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
        return format_minor(obj.amount_minor, obj.currency)
