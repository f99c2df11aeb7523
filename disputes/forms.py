"""Forms for the dispute pages. They parse and shape input only; the rules live in the services."""

from __future__ import annotations

from django import forms

from backoffice.money import SUPPORTED_CURRENCIES
from backoffice.parsing import DateTimeFormField

from .models import DisputeStage, EvidenceKind, Network, ReasonCode


class EvidenceForm(forms.Form):
    kind = forms.ChoiceField(choices=EvidenceKind.choices)
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False, max_length=20_000)
    file = forms.FileField(required=False)


def _reason_choices():
    groups: dict[str, list[tuple[str, str]]] = {}
    for code in ReasonCode.objects.order_by("network", "code"):
        groups.setdefault(code.get_network_display(), []).append(
            (str(code.pk), f"{code.code} · {code.title} ({code.get_category_display()})")
        )
    return [("", "— choose —"), *groups.items()]


class DisputeEntryForm(forms.Form):
    """Manual entry of a dispute a PSP reported outside the webhook (e.g. by e-mail or in its dashboard)."""

    payment = forms.CharField(max_length=64, label="Payment (id or PSP reference)")
    amount = forms.CharField(max_length=40, label="Disputed amount", help_text="e.g. 1234.50")
    currency = forms.CharField(max_length=3, help_text="ISO 4217, e.g. USD",
                               widget=forms.TextInput(attrs={"list": "currencies", "size": 4}))
    network = forms.ChoiceField(choices=Network.choices)
    reason_code = forms.ChoiceField(choices=(), label="Reason code")
    psp = forms.CharField(max_length=16, label="PSP", initial="stripe")
    psp_dispute_id = forms.CharField(max_length=64, label="PSP dispute id")
    stage = forms.ChoiceField(choices=[(DisputeStage.CHARGEBACK, "Chargeback"), (DisputeStage.INQUIRY, "Inquiry")],
                              initial=DisputeStage.CHARGEBACK)
    due_at = DateTimeFormField(required=False, label="Respond by (UTC, optional)", max_length=40,
                               widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))

    currencies = SUPPORTED_CURRENCIES

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["reason_code"].choices = _reason_choices()
