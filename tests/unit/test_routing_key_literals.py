"""A routing key or a queue name is written once: in alexandrite/common/contracts.py.

The services and the benchmarks name events through the contract module (``OrderApproved.
routing_key``, ``contracts.MES_QUEUE``), never as a string of their own, so renaming an event is
one edit. Prose (docstrings, comments) may name them. The tests are not scanned: what they write
is the wire protocol they expect, a second statement of it on purpose.
"""

from __future__ import annotations

import ast
from pathlib import Path

from alexandrite.common import contracts
from alexandrite.common.paths import REPO_ROOT

CONTRACT_MODULE = Path(contracts.__file__)
SCANNED = ("alexandrite", "bench")
NAMES = frozenset({*contracts.CONTRACTS, *contracts.LISTENS_TO})


def contract_literals(source: str, name: str = "<source>") -> list[str]:
    """Each place in ``source`` that writes a routing key or a queue name as a string."""
    tree = ast.parse(source, name)
    prose = {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    }
    found = [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and id(node) not in prose and node.value in NAMES
    ]
    return [f"{line}: {value}" for line, value in sorted(found)]


def test_no_code_outside_the_contract_module_writes_a_routing_key_or_a_queue_name() -> None:
    offenders = [
        f"{path.relative_to(REPO_ROOT)}:{where}"
        for top in SCANNED
        for path in sorted((REPO_ROOT / top).rglob("*.py"))
        if path != CONTRACT_MODULE
        for where in contract_literals(path.read_text(), str(path))
    ]
    assert offenders == []


def test_the_check_sees_a_routing_key_and_a_queue_name_but_not_prose() -> None:
    source = (
        '"""Consumes `order.approved` from mes.events."""\n'
        'KEY = "order.approved"\n'
        'bind("mes.events")\n'
        '# "production.failed" in a comment\n'
        'OTHER = "order.approved.later"\n'
    )
    assert contract_literals(source) == ["2: order.approved", "3: mes.events"]
