"""The seams between the core and the workflows, checked by reading the source (ast), so a new
shortcut fails here before review:

* ``backoffice/`` (the core) imports nothing from the workflow apps; it reaches them through the
  case registry. The ledger (``invoices``' customers, invoices and payments) is shared data every
  workflow builds on, so the core may read it.
* every write to a case's state goes through the transition service: no ``.update(state=…)``, no
  ``bulk_create`` / ``bulk_update`` of case rows, and a case row is created with a state only by its
  own app's creation services (which journal the ``create`` row).

Outside migrations, tests and the benchmark. The exceptions are listed below with their reason
(the simulation harness's imports; no state-write exception is left).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW_APPS = {"disputes", "refunds", "reconciliation"}
LEDGER_NAMES = {"Customer", "Invoice", "InvoiceLine", "Payment"}
LEDGER_MODULES = {"invoices.ledger_views"}

# The year-in-simulation harness plays every workflow's users and PSPs through their services
# (README, "A year in simulation"): it drives the apps from the outside, like the tests do.
IMPORT_EXCEPTIONS = {
    "backoffice/simulation/engine.py",
    "backoffice/notifications/management/commands/simulate_operations.py",
}
# Nothing may write a case's state around the transition service (the demo plays its cases through
# the services on a clock of the past: backoffice/demo.py).
STATE_WRITE_EXCEPTIONS: set[str] = set()
# Creating a case in a given state is a creation service's job (journaled as ``create``).
CREATION_MODULES = {"disputes/services.py", "refunds/services.py", "invoices/services.py",
                    "reconciliation/services.py", "reconciliation/matching.py",
                    "refunds/psp.py"}  # a refund made at the PSP, recorded as it happened


def _sources(*tops: str):
    for top in tops:
        for path in sorted((ROOT / top).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if "/migrations/" in rel:
                continue
            yield rel, ast.parse(path.read_text(), filename=rel)


def _case_model_names() -> set[str]:
    from django.apps import apps

    from backoffice.cases.models import Case

    return {model.__name__ for model in apps.get_models() if issubclass(model, Case)}


def _workflow_imports(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if alias.name.split(".")[0] in WORKFLOW_APPS | {"invoices"}
                      and alias.name not in LEDGER_MODULES]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            top = node.module.split(".")[0]
            if top in WORKFLOW_APPS:
                found.append(node.module)
            elif top == "invoices":
                names = {alias.name for alias in node.names}
                if node.module == "invoices":  # from invoices import ledger_views
                    found += [f"invoices.{name}" for name in sorted(names) if f"invoices.{name}" not in LEDGER_MODULES]
                elif node.module not in LEDGER_MODULES and (node.module != "invoices.models"
                                                             or not names <= LEDGER_NAMES):
                    found.append(f"{node.module}: {', '.join(sorted(names))}")
    return found


def test_the_core_imports_nothing_from_the_workflow_apps():
    offenders = [f"{rel}: {name}" for rel, tree in _sources("backoffice") if rel not in IMPORT_EXCEPTIONS
                 for name in _workflow_imports(tree)]
    assert offenders == []


def test_the_import_scan_finds_a_workflow_import():
    tree = ast.parse("from disputes.services import evidence_add\nfrom invoices.models import Payment\n"
                     "from invoices.models import PaymentExtension\nimport refunds.models\n"
                     "from invoices import ledger_views, services\n")
    assert _workflow_imports(tree) == ["disputes.services", "invoices.models: PaymentExtension", "refunds.models",
                                       "invoices.services"]


def _state_writes(tree: ast.AST, cases: set[str], *, creation_allowed: bool) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = ast.unparse(node.func)
        with_state = any(keyword.arg == "state" for keyword in node.keywords)
        receiver = func.rsplit(".", 2)[0] if "." in func else ""
        if isinstance(node.func, ast.Attribute) and node.func.attr == "update" and with_state:
            found.append(f"{node.lineno}: {func}(state=…)")
        elif isinstance(node.func, ast.Attribute) and node.func.attr in {"bulk_create", "bulk_update"} \
                and receiver.split(".")[0] in cases:
            found.append(f"{node.lineno}: {func}")
        elif with_state and not creation_allowed and (
                func in cases or (func.endswith((".create", ".get_or_create")) and func.split(".")[0] in cases)):
            found.append(f"{node.lineno}: {func}(state=…)")
    return found


@pytest.mark.django_db
def test_every_write_to_a_case_state_goes_through_the_transition_service():
    cases = _case_model_names()
    assert {"Dispute", "Refund", "PaymentExtension"} <= cases
    offenders = [f"{rel}:{where}" for rel, tree in _sources("backoffice", *sorted(WORKFLOW_APPS), "invoices")
                 if rel not in STATE_WRITE_EXCEPTIONS
                 for where in _state_writes(tree, cases, creation_allowed=rel in CREATION_MODULES)]
    assert offenders == []


def test_the_state_write_scan_finds_each_shortcut():
    tree = ast.parse("Refund.objects.filter(pk=1).update(state='approved')\n"
                     "Dispute.objects.bulk_create(rows)\n"
                     "PaymentExtension.objects.create(state='approved')\n"
                     "Refund.objects.filter(state='failed').count()\n")
    found = _state_writes(tree, {"Dispute", "Refund", "PaymentExtension"}, creation_allowed=False)
    assert [line.split(":")[0] for line in found] == ["1", "2", "3"]
