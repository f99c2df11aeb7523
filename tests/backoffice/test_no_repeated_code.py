"""One rule in one place: the workflow apps ``disputes``, ``refunds`` and ``invoices`` do not repeat
each other's code. A run of six or more identical lines standing in two of those apps (outside
migrations) is logic written twice; it belongs in one function both use (in ``backoffice/`` when it
is shared by the workflows, or in the app that owns the data).

Lines are compared as the ``duplicates`` tool compares them: white space folded; blank lines,
comments, lines of lone punctuation (``)``, ``],``, ``}``) and import statements passed over.
Lines of the same shape with other data (choices, catalogues) differ, so they never match here.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APPS = ("disputes", "refunds", "invoices")
RUN = 6

_PUNCTUATION_ONLY = re.compile(r"^[\s()\[\]{},:;.]*$")


def significant_lines(source: str) -> list[tuple[int, str]]:
    """The (line number, folded text) of each line that counts, in order."""
    import_lines: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import | ast.ImportFrom):
            import_lines.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    kept = []
    for number, line in enumerate(source.splitlines(), start=1):
        folded = " ".join(line.split())
        if number in import_lines or folded.startswith("#") or _PUNCTUATION_ONLY.match(folded):
            continue
        kept.append((number, folded))
    return kept


def repeated_runs(sources: dict[str, tuple[str, str]], run: int = RUN) -> list[str]:
    """Where a run of ``run`` identical significant lines stands in files of two different groups.

    ``sources`` maps a file's name to (its group, its text). Each finding reads
    ``a.py:10-17 ~ b.py:40-47``; overlapping windows of one repeat are reported once.
    """
    places: dict[tuple[str, ...], list[tuple[str, str, int, int]]] = defaultdict(list)
    for name, (group, text) in sorted(sources.items()):
        lines = significant_lines(text)
        for start in range(len(lines) - run + 1):
            window = lines[start:start + run]
            places[tuple(text for _, text in window)].append((group, name, window[0][0], window[-1][0]))
    windows: dict[tuple[str, str], list[tuple[int, int, int, int]]] = defaultdict(list)
    for where in places.values():
        for i, (group_a, name_a, first_a, last_a) in enumerate(where):
            for group_b, name_b, first_b, last_b in where[i + 1:]:
                if group_a != group_b:
                    windows[name_a, name_b].append((first_a, last_a, first_b, last_b))
    findings = []
    for (name_a, name_b), found in sorted(windows.items()):
        merged: list[list[int]] = []
        for first_a, last_a, first_b, last_b in sorted(found):
            if merged and first_a <= merged[-1][1] and first_b <= merged[-1][3]:  # the same repeat, one line on
                merged[-1][1], merged[-1][3] = max(merged[-1][1], last_a), max(merged[-1][3], last_b)
            else:
                merged.append([first_a, last_a, first_b, last_b])
        findings += [f"{name_a}:{fa}-{la} ~ {name_b}:{fb}-{lb}" for fa, la, fb, lb in merged]
    return findings


def _workflow_sources() -> dict[str, tuple[str, str]]:
    sources = {}
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if "/migrations/" not in rel:
                sources[rel] = (app, path.read_text())
    return sources


def test_no_run_of_six_identical_lines_repeats_between_the_workflow_apps():
    sources = _workflow_sources()
    assert {group for group, _ in sources.values()} == set(APPS)
    assert repeated_runs(sources) == []


PLANTED = '''\
from decimal import Decimal

from django.db import transaction


def payment_refundable(*, payment):
    # what is left to refund
    with transaction.atomic():
        total = Decimal("0")
        for refund in payment.refunds.all():
            if refund.state == "succeeded":
                total += refund.amount
        left = payment.amount - total
    return max(left, Decimal("0"))
'''


def test_the_scan_finds_a_run_repeated_in_another_app():
    # The same six lines, re-indented and with other comments and imports around them, in a second app.
    copied = "import os\n\n\nclass Helper:\n    def left(self, payment):\n" + "\n".join(
        "    " + line for line in PLANTED.splitlines()[6:]) + "\n"
    found = repeated_runs({"disputes/a.py": ("disputes", PLANTED), "refunds/b.py": ("refunds", copied)})
    assert found == ["disputes/a.py:8-14 ~ refunds/b.py:7-13"]


def test_the_scan_lets_alone_five_lines_and_repeats_within_one_app():
    five = PLANTED.replace('total = Decimal("0")', "total = 0")  # one line differs: runs of two and five
    assert repeated_runs({"disputes/a.py": ("disputes", PLANTED), "refunds/b.py": ("refunds", five)}) == []
    assert repeated_runs({"disputes/a.py": ("disputes", PLANTED), "disputes/c.py": ("disputes", PLANTED)}) == []


def test_the_scan_tells_data_of_the_same_shape_apart():
    choices = 'STATES = [\n' + "".join(f'    ("s{i}", "State {i}"),\n' for i in range(8)) + ']\n'
    others = choices.replace("State", "Status")
    assert repeated_runs({"disputes/a.py": ("disputes", choices), "invoices/b.py": ("invoices", others)}) == []
    assert repeated_runs({"disputes/a.py": ("disputes", choices), "invoices/b.py": ("invoices", choices)}) != []
