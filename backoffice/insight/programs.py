"""Card-network monitoring programs the dispute ratio is measured against.

Visa VAMP (Visa Acquirer Monitoring Program, from April 2025): (fraud reports + disputes) ÷ settled
card-not-present transactions of the same month; a merchant is "excessive" at or above the ratio
and at or above 1,500 fraud reports + disputes that month. The merchant threshold is 2.2 % from
April 2025 and 1.5 % from April 2026. We hold no issuer fraud reports (TC40), so the count is
our Visa chargebacks: the ratio shown is a floor of the real one.

Mastercard ECP (Excessive Chargeback Program): chargebacks this month ÷ Mastercard transactions
of the previous month; "excessive" at or above 1.5 % and at or above 100 chargebacks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

EARLY_WARNING_SHARE = 0.8  # warn once a month is projected to cross, or reaches 80 % of the ratio


@dataclass(frozen=True)
class Program:
    code: str
    network: str
    name: str
    threshold_percent: float
    count_floor: int
    denominator: str  # "same_month" or "previous_month"
    definition: str


def program_for(network: str, month: date) -> Program | None:
    if network == "visa":
        if month < date(2025, 4, 1):
            return None
        threshold = 1.5 if month >= date(2026, 4, 1) else 2.2
        return Program("vamp", "visa", "Visa VAMP", threshold, 1500, "same_month",
                       "Visa chargebacks opened this month ÷ Visa card payments captured this month "
                       f"(excessive at ≥ {threshold} % with ≥ 1,500 a month; 2.2 % until March 2026, "
                       "1.5 % from April 2026)")
    if network == "mastercard":
        return Program("ecp", "mastercard", "Mastercard ECP", 1.5, 100, "previous_month",
                       "Mastercard chargebacks opened this month ÷ Mastercard card payments captured "
                       "last month (excessive at ≥ 1.5 % with ≥ 100 chargebacks)")
    return None
