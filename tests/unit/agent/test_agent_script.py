"""The PowerShell agent: valid syntax, Windows PowerShell 5.1 only, and the contract's operations."""

from __future__ import annotations

import re

import pytest
import tree_sitter_pwsh
from tree_sitter import Language, Parser

from onshi_cert.agent.contract import OPERATIONS, agent_script

PARSER = Parser(Language(tree_sitter_pwsh.language()))


def syntax_errors(source: bytes) -> list[str]:
    """Return the positions of ERROR or missing nodes in a PowerShell parse tree."""
    found = []

    def walk(node) -> None:
        if node.type == "ERROR" or node.is_missing:
            found.append(f"{node.type} at {node.start_point}")
        for child in node.children:
            walk(child)

    walk(PARSER.parse(source).root_node)
    return found


def test_agent_parses_without_errors() -> None:
    """The agent is valid PowerShell."""
    assert syntax_errors(agent_script()) == []


@pytest.mark.parametrize("broken", [b"function f( {", b"if ($x) { 'a' ", b"$x = @{ a = 1 "])
def test_the_syntax_check_catches_errors(broken: bytes) -> None:
    """The check is not vacuous: broken PowerShell is reported."""
    assert syntax_errors(broken)


@pytest.mark.parametrize(
    ("pattern", "what"),
    [
        (r"\?\?", "null-coalescing ??"),
        (r"\?\.", "null-conditional ?."),
        (r"\)\s*&&|\)\s*\|\|", "&& / || chains"),
        (r"-Parallel", "ForEach-Object -Parallel"),
        (r"\s\?\s[^:]+\s:\s", "ternary ? :"),
        (r"(?i)#AnsibleRequires\s+-CSharpUtil", "a C# utility"),
        (r"(?i)Add-Type\s+-(TypeDefinition|MemberDefinition)", "C# compiled with Add-Type"),
    ],
)
def test_agent_uses_windows_powershell_51_only(pattern: str, what: str) -> None:
    """No PowerShell 7 syntax and no C#: each would fail or cost seconds on a PC."""
    code = "\n".join(line for line in agent_script().decode().splitlines() if not line.lstrip().startswith("#"))
    assert not re.search(pattern, code), what


def test_agent_declares_its_powershell_version_and_no_utils() -> None:
    """The agent needs only Windows PowerShell 5.1 and no module utilities."""
    text = agent_script().decode()
    assert "#Requires -Version 5.1" in text
    assert "#Requires -Module" not in text and "#AnsibleRequires" not in text


def test_agent_implements_every_operation_of_the_contract() -> None:
    """Each operation of the contract has a branch in the agent's dispatcher."""
    text = agent_script().decode()
    for op in OPERATIONS:
        assert f"'{op}' {{" in text, op


def test_agent_never_requests_strong_key_protection() -> None:
    """UserProtected would prompt on every use; the agent never sets it."""
    assert b"UserProtected" not in agent_script()
