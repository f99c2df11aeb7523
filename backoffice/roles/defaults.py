"""The role groups and default approval limits, installed by migration roles.0002.

Kept in one place so tests whose database was flushed (transactional tests) can reinstall them.
"""

ROLES = ("billing_specialist", "team_lead", "finance_auditor")

# Team-lead refund limits and dual-approval thresholds, in minor units (about 5,000 / 1,000 USD).
TEAM_LEAD_REFUND_LIMIT = {
    "USD": 500_000, "EUR": 500_000, "GBP": 400_000,
    "KZT": 250_000_000, "AZN": 850_000, "UZS": 6_000_000_000,
}
DUAL_APPROVAL_THRESHOLD = {
    "USD": 100_000, "EUR": 100_000, "GBP": 80_000,
    "KZT": 50_000_000, "AZN": 170_000, "UZS": 1_250_000_000,
}
EXTENSION_DAYS = {"billing_specialist": 14, "team_lead": 90}


def install_defaults(Group, ApprovalLimit, Threshold) -> None:  # noqa: N803 - model classes
    """Create what is missing; never overwrite a limit someone changed."""
    for name in ROLES:
        Group.objects.get_or_create(name=name)
    for currency, limit in TEAM_LEAD_REFUND_LIMIT.items():
        ApprovalLimit.objects.get_or_create(role="team_lead", action="refund_approve", currency=currency,
                                            defaults={"limit": limit})
        ApprovalLimit.objects.get_or_create(role="billing_specialist", action="refund_approve", currency=currency,
                                            defaults={"limit": 0})
    for currency, threshold in DUAL_APPROVAL_THRESHOLD.items():
        Threshold.objects.get_or_create(currency=currency, defaults={"threshold_minor": threshold})
    for role, days in EXTENSION_DAYS.items():
        ApprovalLimit.objects.get_or_create(role=role, action="extension_approve", currency="",
                                            defaults={"limit": days})
