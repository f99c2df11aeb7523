"""``/search/`` finds breaks by the PSP id they are about (the lookup the break case type registers)."""

from __future__ import annotations

import pytest

from backoffice.search import search
from reconciliation.services import break_open
from tests.invoices.factories import PaymentFactory


def open_break(psp: str, psp_reference: str, kind: str = "missing_in_ledger"):
    return break_open(kind=kind, psp=psp, psp_reference=psp_reference, amount_minor=5_000, currency="USD",
                      detail="Settled at the PSP, missing in our ledger")


@pytest.mark.django_db
def test_the_search_page_lists_the_breaks_of_a_psp_reference(client, specialist):
    stripe = open_break("stripe", "ch_3BreakSearch01")
    adyen = open_break("adyen", "8815329842815462")
    open_break("stripe", "ch_3SomethingElse")
    client.force_login(specialist)

    page = client.get("/search/", {"q": "ch_3BreakSearch01"})
    digits = client.get("/search/", {"q": "8815329842815462"})

    assert page.status_code == 200 and digits.status_code == 200
    assert 'data-results="breaks"' in page.text and f'data-reference="{stripe.reference}"' in page.text
    assert "ch_3SomethingElse" not in page.text and adyen.reference not in page.text
    assert f'data-reference="{adyen.reference}"' in digits.text and stripe.reference not in digits.text


@pytest.mark.django_db
def test_a_payment_and_its_not_settled_break_are_found_together(specialist):
    payment = PaymentFactory(psp="stripe", psp_reference="ch_3NeverSettled7")
    brk = open_break("stripe", payment.psp_reference, kind="not_settled")

    found = search(user=specialist, q="ch_3NeverSettled7")

    assert [p.pk for p in found.payments] == [payment.pk]
    assert [(g.spec.key, [r.pk for r in g.rows]) for g in found.cases] == [("breaks", [brk.pk])]
