"""One search box: what the shape of a key says it is, and the few indexed lookups that answer it.

``classify(text)`` is pure and shared: the ``/search/`` page uses it here, and the queue pages' and
the API's ``q`` filter can route the same way. A key is routed by its shape, never by scanning:

=====================  =======================  ==================================================
shape                  example                  looked up as
=====================  =======================  ==================================================
case reference         ``DSP-000123``, rfd-12   the case type's unique ``reference`` (exact)
invoice number         ``INV-2026-0001``        ``number`` prefix (the unique index's ``_like``)
e-mail                 ``anna@``, ``a@b.kz``    customer e-mail prefix, case-insensitive
digits                 ``4242``, ``123``        ids of every kind; 4 digits: also card last four
PSP id / external id   ``ch_3N…``, ``dp_1…``    payment PSP id prefix, the PSP ids each case type
                                                registers (``CaseTypeSpec.psp_id_lookups``:
                                                dispute id prefix, refund id, break PSP
                                                reference), customer ``external_id`` (exact)
words                  ``Anna Kim``, ``acme``   customer name: prefix (< 3 characters) or
                                                trigram ``pg_trgm`` GIN "contains" (PostgreSQL)
card number            13–19 digits, Luhn ok    never echoed; only an exact PSP-reference lookup
=====================  =======================  ==================================================

``search(user=…, q=…)`` runs at most one query per kind of row (customers, invoices, payments,
and each case type), whatever the size of the data: every lookup has an index behind it on
PostgreSQL (``invoices/migrations/0004_search_indexes.py``), each answer is limited, and the rows
carry what the results page shows (``select_related``). On SQLite (the demo) the same queries
run without the trigram index.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from django.db.models import Q, QuerySet

from backoffice.parsing import luhn_valid

MAX_QUERY_CHARS = 200
DEFAULT_LIMIT = 10
# Below this many characters a trigram index cannot help: names are matched by prefix only.
TRIGRAM_MIN_CHARS = 3

_SPACES = re.compile(r"\s+")
_REFERENCE = re.compile(r"^(?P<prefix>[A-Za-z]{2,5})-(?P<number>[0-9]{1,12})$")
_INVOICE = re.compile(r"^INV-[0-9A-Z-]*$", re.IGNORECASE)
_DIGITS = re.compile(r"^[0-9]{1,12}$")
_CARD_LIKE = re.compile(r"^[0-9][0-9 -]{11,22}[0-9]$")
_TOKEN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{3,63}$")
_LETTERS = re.compile(r"[^\W\d_]", re.UNICODE)


class KeyKind(StrEnum):
    CASE_REFERENCE = "case_reference"
    INVOICE_NUMBER = "invoice_number"
    EMAIL = "email"
    NUMBER = "number"
    CARD_LAST4 = "card_last4"
    PSP_ID = "psp_id"
    NAME = "name"


@dataclass(frozen=True)
class SearchKey:
    """What a typed key can be. ``kinds`` is empty for an empty (or unusable) key."""

    text: str  # stripped, inner whitespace collapsed, at most MAX_QUERY_CHARS
    kinds: frozenset[KeyKind] = field(default_factory=frozenset)
    reference: str = ""  # normalised case reference, e.g. "DSP-000123"
    reference_prefix: str = ""  # "DSP"
    number: int | None = None  # the digits as an id
    maybe_card_number: bool = False  # looks like a full card number: never shown back, never logged

    def has(self, kind: KeyKind) -> bool:
        return kind in self.kinds

    @property
    def display(self) -> str:
        """What the page may show of the key (nothing when it may be a card number)."""
        return "" if self.maybe_card_number else self.text


def case_reference_prefixes() -> dict[str, Any]:
    """``{"DSP": spec, "RFD": spec, …}`` from the registered case types."""
    from backoffice.cases.registry import case_types

    return {spec.model.REFERENCE_PREFIX: spec for spec in case_types()}


def classify(raw: str | None, *, reference_prefixes: frozenset[str] | None = None) -> SearchKey:
    """Route a typed key by its shape (pure apart from reading the registered case prefixes)."""
    text = _SPACES.sub(" ", (raw or "").strip())[:MAX_QUERY_CHARS]
    if not text:
        return SearchKey(text="")
    prefixes = reference_prefixes if reference_prefixes is not None else frozenset(case_reference_prefixes())

    compact = text.replace(" ", "").replace("-", "")
    if _CARD_LIKE.match(text) and 13 <= len(compact) <= 19 and compact.isdigit() and luhn_valid(compact):
        # A full card number typed by mistake: it may still be an Adyen PSP reference (16 digits).
        kinds = {KeyKind.PSP_ID} if compact == text and len(text) == 16 else set()
        return SearchKey(text=compact, kinds=frozenset(kinds), maybe_card_number=True)

    match = _REFERENCE.match(text)
    if match and match["prefix"].upper() in prefixes:
        prefix = match["prefix"].upper()
        number = int(match["number"])
        return SearchKey(text=text, kinds=frozenset({KeyKind.CASE_REFERENCE}),
                         reference=f"{prefix}-{number:06d}", reference_prefix=prefix, number=number)
    if _INVOICE.match(text):
        return SearchKey(text=text.upper(), kinds=frozenset({KeyKind.INVOICE_NUMBER}))
    if "@" in text and " " not in text:
        return SearchKey(text=text.lower(), kinds=frozenset({KeyKind.EMAIL}))
    if _DIGITS.match(text):
        kinds = {KeyKind.NUMBER, KeyKind.PSP_ID}
        if len(text) == 4:
            kinds.add(KeyKind.CARD_LAST4)
        return SearchKey(text=text, kinds=frozenset(kinds), number=int(text))
    kinds = set()
    if _TOKEN.match(text) and any(ch.isdigit() or ch == "_" for ch in text):
        kinds.add(KeyKind.PSP_ID)
    if len(_LETTERS.findall(text)) >= 2:
        kinds.add(KeyKind.NAME)
    return SearchKey(text=text, kinds=frozenset(kinds))


# ---------------------------------------------------------------- lookups (Q objects per kind of row)


def customer_q(key: SearchKey) -> Q | None:
    """The customer rows a key can mean, or None when it cannot mean any."""
    q = Q()
    if key.has(KeyKind.EMAIL):
        q |= Q(email__istartswith=key.text)
    if key.has(KeyKind.NUMBER):
        q |= Q(pk=key.number)
    if key.has(KeyKind.PSP_ID) or key.has(KeyKind.NUMBER):
        q |= Q(external_id=key.text)
    if key.has(KeyKind.NAME):
        q |= name_q("name", key.text)
    return q or None


def name_q(field_name: str, text: str) -> Q:
    """Case-insensitive "contains" for names (trigram GIN on PostgreSQL); prefix only when too short."""
    if len(text) < TRIGRAM_MIN_CHARS:
        return Q(**{f"{field_name}__istartswith": text})
    return Q(**{f"{field_name}__icontains": text})


def invoice_q(key: SearchKey) -> Q | None:
    q = Q()
    if key.has(KeyKind.INVOICE_NUMBER):
        q |= Q(number__startswith=key.text)
    if key.has(KeyKind.NUMBER):
        q |= Q(pk=key.number)
    return q or None


def payment_q(key: SearchKey) -> Q | None:
    q = Q()
    if key.has(KeyKind.PSP_ID):
        q |= Q(psp_reference__startswith=key.text)
    if key.has(KeyKind.NUMBER):
        q |= Q(pk=key.number)
    if key.has(KeyKind.CARD_LAST4):
        q |= Q(card_last4=key.text)
    return q or None


def psp_id_lookups(model: Any) -> tuple[str, ...]:
    """The PSP-id lookups the case type registered for ``model`` (``CaseTypeSpec.psp_id_lookups``)."""
    from backoffice.cases.registry import case_type_for_model

    spec = case_type_for_model(model)
    return spec.psp_id_lookups if spec is not None else ()


def case_q(key: SearchKey, model: Any) -> Q | None:
    q = Q()
    if key.has(KeyKind.CASE_REFERENCE):
        if key.reference_prefix != model.REFERENCE_PREFIX:
            return None
        q |= Q(reference=key.reference)
    if key.has(KeyKind.NUMBER):
        q |= Q(pk=key.number)
    if key.has(KeyKind.PSP_ID):
        for lookup in psp_id_lookups(model):
            q |= Q(**{lookup: key.text})
    return q or None


# ---------------------------------------------------------------- the selector


@dataclass
class CaseHits:
    spec: Any
    rows: list[Any]
    more: bool


@dataclass
class SearchResults:
    key: SearchKey
    customers: list[Any] = field(default_factory=list)
    invoices: list[Any] = field(default_factory=list)
    payments: list[Any] = field(default_factory=list)
    cases: list[CaseHits] = field(default_factory=list)
    more: dict[str, bool] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return (len(self.customers) + len(self.invoices) + len(self.payments)
                + sum(len(group.rows) for group in self.cases))

    def single_exact_url(self) -> str | None:
        """The one row a unique identifier (case reference, invoice number, PSP id) names, if exactly one."""
        if self.total != 1 or not (self.key.kinds & {KeyKind.CASE_REFERENCE, KeyKind.INVOICE_NUMBER}):
            return None
        from django.urls import reverse

        for group in self.cases:
            for row in group.rows:
                return reverse(group.spec.detail_url_name, args=[row.pk])
        if self.invoices and self.invoices[0].number == self.key.text:
            return reverse("invoice-detail", args=[self.invoices[0].pk])
        return None


def _take(queryset: QuerySet, limit: int) -> tuple[list[Any], bool]:
    rows = list(queryset[: limit + 1])
    return rows[:limit], len(rows) > limit


def search(*, user: Any, q: str | None, limit: int = DEFAULT_LIMIT) -> SearchResults:
    """Everything a key can name that ``user`` may read: at most one query per kind of row."""
    from backoffice.cases.registry import case_types
    from backoffice.roles.predicates import can_read
    from invoices.models import Customer, Invoice, Payment

    key = classify(q)
    results = SearchResults(key=key)
    if not key.kinds or not can_read(user):
        return results
    lookups = (
        ("customers", Customer.objects.order_by("name", "id"), customer_q(key)),
        ("invoices", Invoice.objects.select_related("customer").order_by("-issued_at", "-id"), invoice_q(key)),
        ("payments", Payment.objects.select_related("customer", "invoice").order_by("-captured_at", "-id"),
         payment_q(key)),
    )
    for name, queryset, condition in lookups:
        if condition is not None:
            rows, more = _take(queryset.filter(condition), limit)
            setattr(results, name, rows)
            results.more[name] = more
    for spec in case_types():
        condition = case_q(key, spec.model)
        if condition is None:
            continue
        rows, more = _take(spec.queryset(user).filter(condition).order_by("-created_at", "-id"), limit)
        if rows:
            results.cases.append(CaseHits(spec=spec, rows=rows, more=more))
    return results


# ---------------------------------------------------------------- the lists' ``q`` filter


def _related_key(key: SearchKey) -> SearchKey:
    """The key as it applies to rows a list row points to (payment, invoice, customer): digits are
    the list row's own id or a PSP id / card last four there, never another table's id."""
    return replace(key, kinds=key.kinds - {KeyKind.NUMBER})


def _pks_in(model: Any, condition: Q) -> QuerySet:
    return model._default_manager.filter(condition).values("pk")


def _alternatives(condition: Q | None) -> list[Q]:
    """``a | b | c`` as ``[a, b, c]``: each alternative becomes its own UNION branch with its own index
    (an OR of conditions on different columns is often answered by reading the whole table)."""
    if condition is None:
        return []
    if condition.connector != Q.OR or condition.negated or len(condition.children) < 2:
        return [condition]
    out: list[Q] = []
    for child in condition.children:
        out += _alternatives(child) if isinstance(child, Q) else [Q(child)]
    return out


def _narrow(queryset: QuerySet, branches: list[Q]) -> QuerySet:
    """Rows matching any branch. One branch is applied as it is; several become ``id IN (… UNION …)``,
    so each branch keeps its own index instead of an OR the planner can only answer by a scan."""
    branches = [alternative for branch in branches for alternative in _alternatives(branch)]
    if not branches:
        return queryset.none()
    if len(branches) == 1:
        return queryset.filter(branches[0])
    model = queryset.model
    first, *rest = (_pks_in(model, branch) for branch in branches)
    return queryset.filter(pk__in=first.union(*rest))


def _payments_of(key: SearchKey) -> list[Q]:
    """Conditions on ``payment_id`` for the payments (and their invoices and customers) a key can mean."""
    from invoices.models import Customer, Invoice, Payment

    related = _related_key(key)
    out = [Q(payment_id__in=_pks_in(Payment, c)) for c in _alternatives(payment_q(related))]
    out += [Q(payment_id__in=Payment.objects.filter(invoice_id__in=_pks_in(Invoice, c)).values("pk"))
            for c in _alternatives(invoice_q(related))]
    out += [Q(payment_id__in=Payment.objects.filter(customer_id__in=_pks_in(Customer, c)).values("pk"))
            for c in _alternatives(customer_q(related))]
    return out


def _invoices_of(key: SearchKey) -> list[Q]:
    """Conditions on ``invoice_id`` for the invoices (and their customers) a key can mean."""
    from invoices.models import Customer, Invoice

    related = _related_key(key)
    out = [Q(invoice_id__in=_pks_in(Invoice, c)) for c in _alternatives(invoice_q(related))]
    out += [Q(invoice_id__in=Invoice.objects.filter(customer_id__in=_pks_in(Customer, c)).values("pk"))
            for c in _alternatives(customer_q(related))]
    return out


def filter_cases(queryset: QuerySet, raw: str | None) -> QuerySet:
    """The queue pages' and the API's ``q`` for a case type (disputes, refunds, extensions), routed by
    the key's shape: the case's own reference, id or PSP id, or the payment / invoice / customer it is
    about (PSP charge reference, card last four, invoice number, e-mail, name). Each condition is an
    indexed lookup; they are joined by UNION of ids, never by OR across joined tables."""
    key = classify(raw)
    if not key.text:
        return queryset
    model = queryset.model
    own = case_q(key, model)
    if key.has(KeyKind.CASE_REFERENCE):  # unique: nothing else can be meant
        return queryset.filter(own) if own is not None else queryset.none()
    branches = [own] if own is not None else []
    names = {f.name for f in model._meta.get_fields()}
    if "payment" in names:
        branches += _payments_of(key)
    elif "invoice" in names:
        branches += _invoices_of(key)
    return _narrow(queryset, branches)


def filter_invoices(queryset: QuerySet, raw: str | None) -> QuerySet:
    """Invoices by number (prefix; digits anywhere in the number by trigram), id, or their customer."""
    key = classify(raw)
    if not key.text:
        return queryset
    branches = []
    if key.has(KeyKind.INVOICE_NUMBER):
        branches.append(Q(number__startswith=key.text))
    if key.has(KeyKind.NUMBER):
        branches.append(Q(pk=key.number) | Q(number__contains=key.text) if len(key.text) >= TRIGRAM_MIN_CHARS
                        else Q(pk=key.number))
    return _narrow(queryset, branches + _customers_of(key))


def _customers_of(key: SearchKey) -> list[Q]:
    from invoices.models import Customer

    return [Q(customer_id__in=_pks_in(Customer, c)) for c in _alternatives(customer_q(_related_key(key)))]


def filter_payments(queryset: QuerySet, raw: str | None) -> QuerySet:
    """Payments by PSP reference (prefix), card last four, or id."""
    key = classify(raw)
    if not key.text:
        return queryset
    condition = payment_q(key)
    if condition is None and key.kinds:  # a word: the beginning of a PSP reference
        condition = Q(psp_reference__startswith=key.text)
    return _narrow(queryset, [condition] if condition is not None else [])


def filter_customers(queryset: QuerySet, raw: str | None) -> QuerySet:
    """Customers by name or e-mail (trigram "contains" for words, prefix for an e-mail), external id or id."""
    key = classify(raw)
    if not key.text:
        return queryset
    condition = customer_q(key)
    if key.has(KeyKind.NAME) and len(key.text) >= TRIGRAM_MIN_CHARS:
        condition = (condition or Q()) | Q(email__icontains=key.text)
    return _narrow(queryset, [condition] if condition is not None else [])
