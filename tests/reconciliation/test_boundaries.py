"""The core knows no case type: ``backoffice/`` imports nothing from ``reconciliation``."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_core_imports_nothing_from_reconciliation():
    offenders = []
    for path in (ROOT / "backoffice").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.relative_to(ROOT)}: {name}" for name in names
                          if name == "reconciliation" or name.startswith("reconciliation.")]
    assert offenders == []


def test_breaks_are_a_registered_case_type():
    from backoffice.cases.registry import get_case_type
    from reconciliation.models import Break

    spec = get_case_type("breaks")
    assert spec is not None and spec.model is Break and spec.detail_url_name == "reconciliation:detail"
