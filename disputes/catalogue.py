"""The reason-code catalogue: every network's codes with category, title, response window and the
evidence each needs. Loaded by data migration 0002 (and re-synced by later migrations if it changes).

Response windows are what a merchant typically gets from its processor after the notification
(Visa 18–30 days, Mastercard 40–45, Amex 14–20, Discover 25; DOMAIN.md). ``required_evidence``
lists evidence kinds; ``"a|b"`` means either kind satisfies that line of the checklist.
Codes under the ``other`` network are the PSP's normalised reasons (Stripe's ``fraudulent``,
``product_not_received`` …) used where a network publishes no codes of its own (UnionPay,
local schemes) or the PSP passes none.
"""

from __future__ import annotations

from typing import Any

FRAUD = "fraud"
AUTH = "authorization"
PROC = "processing_error"
CONS = "consumer_dispute"

# Evidence sets reused across networks.
CARD_ABSENT_FRAUD = ["avs_cvv_result", "three_d_secure", "device_ip_history", "prior_undisputed_transactions"]
CARD_PRESENT = ["authorization_record"]
AUTHORIZED = ["authorization_record"]
NOT_RECEIVED = ["proof_of_delivery|usage_logs", "customer_communication"]
CANCELLED_RECURRING = ["terms_of_service", "cancellation_policy", "usage_logs"]
NOT_AS_DESCRIBED = ["service_description|terms_of_service", "customer_communication", "usage_logs"]
CANCELLED = ["cancellation_policy", "terms_of_service", "customer_communication"]
CREDIT_NOT_PROCESSED = ["refund_policy", "refund_record|customer_communication"]
DUPLICATE = ["duplicate_charge_documentation", "invoice"]
PAID_OTHER_MEANS = ["invoice", "duplicate_charge_documentation"]
AMOUNT = ["invoice", "authorization_record"]

# (network, code, category, title, response_days, required_evidence)
REASON_CODES: list[tuple[str, str, str, str, int, list[str]]] = [
    # Visa (Visa Claims Resolution). Allocation (10.x, 11.x) and collaboration (12.x, 13.x).
    ("visa", "10.1", FRAUD, "EMV liability shift counterfeit fraud", 18, CARD_PRESENT),
    ("visa", "10.2", FRAUD, "EMV liability shift non-counterfeit fraud", 18, CARD_PRESENT),
    ("visa", "10.3", FRAUD, "Other fraud: card-present environment", 18, CARD_PRESENT + ["invoice"]),
    ("visa", "10.4", FRAUD, "Other fraud: card-absent environment", 18, CARD_ABSENT_FRAUD),
    ("visa", "10.5", FRAUD, "Visa Fraud Monitoring Program", 18, AUTHORIZED),
    ("visa", "11.1", AUTH, "Card recovery bulletin", 18, AUTHORIZED),
    ("visa", "11.2", AUTH, "Declined authorization", 18, AUTHORIZED),
    ("visa", "11.3", AUTH, "No authorization", 18, AUTHORIZED),
    ("visa", "12.1", PROC, "Late presentment", 30, ["authorization_record", "invoice"]),
    ("visa", "12.2", PROC, "Incorrect transaction code", 30, AMOUNT),
    ("visa", "12.3", PROC, "Incorrect currency", 30, AMOUNT),
    ("visa", "12.4", PROC, "Incorrect account number", 30, AUTHORIZED),
    ("visa", "12.5", PROC, "Incorrect amount", 30, AMOUNT),
    ("visa", "12.6.1", PROC, "Duplicate processing", 30, DUPLICATE),
    ("visa", "12.6.2", PROC, "Paid by other means", 30, PAID_OTHER_MEANS),
    ("visa", "12.7", PROC, "Invalid data", 30, AUTHORIZED),
    ("visa", "13.1", CONS, "Merchandise/services not received", 30, NOT_RECEIVED),
    ("visa", "13.2", CONS, "Cancelled recurring transaction", 30, CANCELLED_RECURRING),
    ("visa", "13.3", CONS, "Not as described or defective merchandise/services", 30, NOT_AS_DESCRIBED),
    ("visa", "13.4", CONS, "Counterfeit merchandise", 30, ["service_description", "customer_communication"]),
    ("visa", "13.5", CONS, "Misrepresentation", 30, ["terms_of_service", "service_description",
                                                      "customer_communication"]),
    ("visa", "13.6", CONS, "Credit not processed", 30, CREDIT_NOT_PROCESSED),
    ("visa", "13.7", CONS, "Cancelled merchandise/services", 30, CANCELLED),
    ("visa", "13.8", CONS, "Original credit transaction not accepted", 30, AUTHORIZED),
    ("visa", "13.9", CONS, "Non-receipt of cash or load transaction value", 30, AUTHORIZED),
    # Mastercard.
    ("mastercard", "4808", AUTH, "Authorization-related chargeback", 45, AUTHORIZED),
    ("mastercard", "4834", PROC, "Point-of-interaction error (duplicate, amount, late presentment)", 45,
     AMOUNT + ["duplicate_charge_documentation"]),
    ("mastercard", "4837", FRAUD, "No cardholder authorization", 45, CARD_ABSENT_FRAUD),
    ("mastercard", "4840", FRAUD, "Fraudulent processing of transactions", 45, ["authorization_record", "invoice"]),
    ("mastercard", "4849", FRAUD, "Questionable merchant activity", 45, ["authorization_record", "invoice"]),
    ("mastercard", "4853", CONS, "Cardholder dispute (not as described, defective, credit not processed)", 40,
     ["proof_of_delivery|usage_logs", "terms_of_service", "customer_communication"]),
    ("mastercard", "4855", CONS, "Goods or services not provided", 40, NOT_RECEIVED),
    ("mastercard", "4863", FRAUD, "Cardholder does not recognize: potential fraud", 45,
     ["invoice", "device_ip_history", "prior_undisputed_transactions"]),
    ("mastercard", "4870", FRAUD, "Chip liability shift", 45, CARD_PRESENT),
    ("mastercard", "4871", FRAUD, "Chip/PIN liability shift: lost, stolen, never received", 45, CARD_PRESENT),
    # American Express.
    ("amex", "A01", AUTH, "Charge amount exceeds authorization amount", 20, AMOUNT),
    ("amex", "A02", AUTH, "No valid authorization", 20, AUTHORIZED),
    ("amex", "A08", AUTH, "Authorization approval expired", 20, AUTHORIZED),
    ("amex", "C02", CONS, "Credit not processed", 20, CREDIT_NOT_PROCESSED),
    ("amex", "C04", CONS, "Goods/services returned or refused", 20, ["refund_policy", "customer_communication"]),
    ("amex", "C05", CONS, "Goods/services cancelled", 20, ["cancellation_policy", "customer_communication"]),
    ("amex", "C08", CONS, "Goods/services not received or only partially received", 20, NOT_RECEIVED),
    ("amex", "C14", CONS, "Paid by other means", 20, PAID_OTHER_MEANS),
    ("amex", "C18", CONS, '"No show" or CARDeposit cancelled', 20, ["cancellation_policy", "terms_of_service"]),
    ("amex", "C28", CONS, "Cancelled recurring billing", 20, CANCELLED_RECURRING),
    ("amex", "C31", CONS, "Goods/services not as described", 20, NOT_AS_DESCRIBED),
    ("amex", "C32", CONS, "Goods/services damaged or defective", 20, NOT_AS_DESCRIBED),
    ("amex", "F10", FRAUD, "Missing imprint", 20, CARD_PRESENT),
    ("amex", "F14", FRAUD, "Missing signature", 20, CARD_PRESENT),
    ("amex", "F24", FRAUD, "No card member authorization", 20,
     ["avs_cvv_result", "device_ip_history", "prior_undisputed_transactions"]),
    ("amex", "F29", FRAUD, "Card not present", 20, CARD_ABSENT_FRAUD),
    ("amex", "P01", PROC, "Unassigned card number", 14, AUTHORIZED),
    ("amex", "P03", PROC, "Credit processed as charge", 14, ["invoice", "refund_record"]),
    ("amex", "P05", PROC, "Incorrect charge amount", 14, AMOUNT),
    ("amex", "P07", PROC, "Late submission", 14, ["authorization_record", "invoice"]),
    ("amex", "P08", PROC, "Duplicate charge", 14, DUPLICATE),
    ("amex", "P22", PROC, "Non-matching card number", 14, AUTHORIZED),
    ("amex", "P23", PROC, "Currency discrepancy", 14, AMOUNT),
    # Discover.
    ("discover", "AA", FRAUD, "Does not recognize", 25,
     ["invoice", "device_ip_history", "prior_undisputed_transactions"]),
    ("discover", "AP", CONS, "Cancelled recurring transaction", 25, CANCELLED_RECURRING),
    ("discover", "AW", PROC, "Altered amount", 25, AMOUNT),
    ("discover", "CD", PROC, "Credit/debit posting error", 25, ["invoice", "refund_record"]),
    ("discover", "DP", PROC, "Duplicate processing", 25, DUPLICATE),
    ("discover", "EX", AUTH, "Expired card", 25, AUTHORIZED),
    ("discover", "IN", AUTH, "Invalid card number", 25, AUTHORIZED),
    ("discover", "LP", PROC, "Late presentation", 25, ["authorization_record", "invoice"]),
    ("discover", "NA", AUTH, "No authorization", 25, AUTHORIZED),
    ("discover", "NF", CONS, "Non-receipt of cash or load transaction value", 25, AUTHORIZED),
    ("discover", "PM", PROC, "Paid by other means", 25, PAID_OTHER_MEANS),
    ("discover", "RG", CONS, "Non-receipt of goods or services", 25, NOT_RECEIVED),
    ("discover", "RM", CONS, "Quality discrepancy", 25, NOT_AS_DESCRIBED),
    ("discover", "RN2", CONS, "Credit not received", 25, CREDIT_NOT_PROCESSED),
    ("discover", "UA01", FRAUD, "Fraud: card-present transaction", 25, CARD_PRESENT),
    ("discover", "UA02", FRAUD, "Fraud: card-not-present transaction", 25, CARD_ABSENT_FRAUD),
    ("discover", "UA05", FRAUD, "Fraud: chip counterfeit transaction", 25, CARD_PRESENT),
    ("discover", "UA06", FRAUD, "Fraud: chip and PIN transaction", 25, CARD_PRESENT),
    # JCB.
    ("jcb", "501", AUTH, "Non-JCB card", 30, AUTHORIZED),
    ("jcb", "502", CONS, "Card member dispute", 30, NOT_AS_DESCRIBED),
    ("jcb", "503", AUTH, "Expired JCB card", 30, AUTHORIZED),
    ("jcb", "507", PROC, "Incorrect transaction amount", 30, AMOUNT),
    ("jcb", "512", PROC, "Duplicate processing", 30, DUPLICATE),
    ("jcb", "513", CONS, "Credit not received", 30, CREDIT_NOT_PROCESSED),
    ("jcb", "522", AUTH, "Authorization declined", 30, AUTHORIZED),
    ("jcb", "546", FRAUD, "Unauthorized purchase", 30, CARD_ABSENT_FRAUD),
    ("jcb", "548", FRAUD, "IC liability shift", 30, CARD_PRESENT),
    # PSP-normalised reasons for any network without codes of its own.
    ("other", "fraudulent", FRAUD, "Fraudulent: the cardholder did not authorise the payment", 21,
     CARD_ABSENT_FRAUD),
    ("other", "unrecognized", FRAUD, "Unrecognised: the customer does not recognise the payment", 21,
     ["invoice", "device_ip_history", "prior_undisputed_transactions"]),
    ("other", "debit_not_authorized", AUTH, "Debit not authorised", 21, AUTHORIZED),
    ("other", "duplicate", PROC, "Duplicate payment", 21, DUPLICATE),
    ("other", "incorrect_account_details", PROC, "Incorrect account details", 21, AUTHORIZED),
    ("other", "product_not_received", CONS, "Product or service not received", 21, NOT_RECEIVED),
    ("other", "product_unacceptable", CONS, "Product or service unacceptable", 21, NOT_AS_DESCRIBED),
    ("other", "subscription_canceled", CONS, "Subscription cancelled", 21, CANCELLED_RECURRING),
    ("other", "credit_not_processed", CONS, "Credit not processed", 21, CREDIT_NOT_PROCESSED),
    ("other", "general", CONS, "General dispute", 21, ["customer_communication", "invoice"]),
]


def catalogue_rows() -> list[dict[str, Any]]:
    return [
        {"network": network, "code": code, "category": category, "title": title, "response_days": days,
         "required_evidence": list(evidence)}
        for network, code, category, title, days, evidence in REASON_CODES
    ]


def catalogue_sync(reason_code_model: Any) -> int:
    """Insert or update every catalogue row (idempotent); takes the model so migrations can pass theirs."""
    count = 0
    for row in catalogue_rows():
        key = {"network": row.pop("network"), "code": row.pop("code")}
        reason_code_model.objects.update_or_create(**key, defaults=row)
        count += 1
    return count
