"""The PowerShell agent: valid syntax, Windows PowerShell 5.1 only, and the contract's operations."""

from __future__ import annotations

import re

import pytest
import tree_sitter_pwsh
from tree_sitter import Language, Parser

from onshi_cert.agent.contract import AGENT_UTIL, OPERATIONS, agent_script, agent_util_script

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


def agent_code() -> bytes:
    """The agent's whole code: the script and its module util (loaded before it by the exec wrapper)."""
    return agent_script() + b"\n" + agent_util_script()


@pytest.mark.parametrize("source", [agent_script, agent_util_script], ids=["agent", "module-util"])
def test_agent_parses_without_errors(source) -> None:
    """The agent and its module util are valid PowerShell."""
    assert syntax_errors(source()) == []


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
    code = "\n".join(line for line in agent_code().decode().splitlines() if not line.lstrip().startswith("#"))
    assert not re.search(pattern, code), what


def test_agent_declares_its_powershell_version_and_only_its_own_powershell_util() -> None:
    """The agent needs Windows PowerShell 5.1 and one module util of this collection (PowerShell, no C#), which
    exports what the agent calls."""
    requires = re.findall(r"(?im)^#\s*(?:Ansible)?Requires\s+-(\w+)\s+(\S+)", agent_script().decode())
    assert requires == [("Version", "5.1"), ("PowerShell", f"..module_utils.{AGENT_UTIL}")]
    util = agent_util_script().decode()
    assert not re.search(r"(?im)^#\s*(?:Ansible)?Requires\s", util)  # the util needs nothing more
    exported = re.search(r"(?m)^Export-ModuleMember -Function (.+)$", util)
    assert exported is not None
    assert set(exported[1].replace(" ", "").split(",")) == set(functions(agent_util_script()))


def test_agent_implements_every_operation_of_the_contract() -> None:
    """Each operation of the contract has a branch in the agent's dispatcher."""
    text = agent_script().decode()
    for op in OPERATIONS:
        assert f"'{op}' {{" in text, op


def test_agent_never_requests_strong_key_protection() -> None:
    """UserProtected would prompt on every use; the agent never sets it."""
    assert b"UserProtected" not in agent_script()


def test_secret_arguments_are_masked_in_debug_logs_but_sent_whole() -> None:
    """ANSIBLE_DEBUG prints module arguments with %s: every secret shows as ******** there, yet JSON sends it."""
    import json

    from onshi_cert.agent.contract import Step, build_request

    request = build_request(
        [
            Step("import_pfx", {"store": "CurrentUser\\My", "pfx": "UEZYLWJ5dGVz", "password": "One-Time-Secret"}),
            Step("list_certs", {"store": "CurrentUser\\My", "export_password": "Export-Secret"}),
        ]
    )
    logged = "done with _execute_module (%s, %s)" % ("onshi_cert_agent", request)  # noqa: UP031 - ansible-core's form
    assert "One-Time-Secret" not in logged and "Export-Secret" not in logged and "UEZYLWJ5dGVz" not in logged
    sent = json.loads(json.dumps(request))
    assert sent["steps"][0]["args"]["password"] == "One-Time-Secret"
    assert sent["steps"][1]["args"]["export_password"] == "Export-Secret"


def functions(source: bytes) -> dict[str, str]:
    """Return each PowerShell function's name and text, from the parse tree."""
    found: dict[str, str] = {}

    def walk(node) -> None:
        if node.type == "function_statement":
            name = next((c for c in node.children if c.type == "function_name"), None)
            if name is not None:
                found[name.text.decode()] = node.text.decode()
        for child in node.children:
            walk(child)

    walk(PARSER.parse(source).root_node)
    return found


def test_arguments_are_looked_up_as_hashtables() -> None:
    """ansible-core hands the agent hashtables: .PSObject.Properties (which lists Count/Keys/Values there) is used
    only in the two helpers that also accept a PSCustomObject, never directly on arguments."""
    text = agent_code()
    bodies = functions(agent_util_script())
    assert {"Test-Key", "Get-Keys", "Get-Arg"} <= set(bodies)
    assert "Contains($Name)" in bodies["Test-Key"] and "IDictionary" in bodies["Get-Keys"]
    outside = text.decode()
    for name in ("Test-Key", "Get-Keys"):
        outside = outside.replace(bodies[name], "")
    code = "\n".join(line for line in outside.splitlines() if not line.lstrip().startswith("#"))
    assert ".PSObject.Properties" not in code


def test_the_agent_says_when_constrained_language_mode_blocks_it() -> None:
    """Before any step the agent checks the language mode and answers in the contract's shape."""
    text = agent_script().decode()
    check = text.index("$ExecutionContext.SessionState.LanguageMode")
    assert check < text.index("foreach ($step in @($complex_args.steps))")
    assert "language_mode = $languageMode" in text


def test_the_agent_never_writes_to_the_host_console() -> None:
    """The agent's only output is its JSON answer: no Write-Host (host stream) nor Write-Output (text before it)."""
    code = "\n".join(line for line in agent_code().decode().splitlines() if not line.lstrip().startswith("#"))
    assert "Write-Host" not in code and "Write-Output" not in code


def assignments(source: bytes) -> dict[str, str]:
    """Return the text of each top-level ``$Name = ...`` assignment of the script, from the parse tree."""
    found: dict[str, str] = {}

    def walk(node, depth: int) -> None:
        if node.type == "assignment_expression" and depth < 8:
            text = node.text.decode()
            name = text.split("=", 1)[0].strip()
            if name.startswith("$") and name[1:].isidentifier():
                found.setdefault(name[1:], text)
        if node.type != "function_statement":
            for child in node.children:
                walk(child, depth + 1)

    walk(PARSER.parse(source).root_node, 0)
    return found


def test_the_agents_tables_are_the_contracts() -> None:
    """The agent's $Verbs (verb and target of each error) and $MutatingOps equal the contract's tables."""
    from onshi_cert.agent.contract import MESSAGES, MUTATING

    tables = assignments(agent_script())
    verbs = {
        op: (verb, None if target == "host facts" else target)
        for op, verb, target in re.findall(r"(\w+) = @\('(\w+)', '([^']+)'\)", tables["Verbs"])
    }
    assert verbs == MESSAGES
    assert set(re.findall(r"'(\w+)'", tables["MutatingOps"])) == set(MUTATING)


def test_keys_are_opened_only_in_the_bounded_probe() -> None:
    """Every call that opens a private key is inside $KeyProbeScript, which runs only through Invoke-Bounded (a
    time limit per key); a PFX is exported only by Export-Pfx, called for named thumbprints with no prompt."""
    tables = assignments(agent_script())
    probe = tables["KeyProbeScript"]
    outside = agent_script().decode().replace(probe, "")
    code = "\n".join(line for line in outside.splitlines() if not line.lstrip().startswith("#"))
    for call in ("GetRSAPrivateKey", ".PrivateKey", "SignData"):
        assert call in probe and call not in code, f"{call} outside the bounded probe"
    assert re.findall(r"\$KeyProbeScript\b", code) == ["$KeyProbeScript"] * 2  # the two Invoke-Bounded calls
    assert all("Invoke-Bounded $KeyProbeScript" in line for line in code.splitlines() if "$KeyProbeScript" in line)
    bodies = functions(agent_script())
    listing = bodies["Invoke-ListCerts"]
    assert "$export -contains $cert.Thumbprint" in listing and "$facts.key_protection -eq 'none'" in listing


def test_the_agents_key_rules_are_the_contracts() -> None:
    """The software providers, the time limit per key and the reasons the agent gives equal the contract's."""
    from onshi_cert.agent import contract

    tables = assignments(agent_script())
    assert tuple(re.findall(r"'([^']+)'", tables["SoftwareProviders"])) == contract.SOFTWARE_PROVIDERS
    assert tables["KeyTimeoutMs"].split("=")[1].strip() == str(contract.KEY_TIMEOUT_S * 1000)
    text = agent_script().decode()
    for reason in (contract.KEY_PROMPT, contract.KEY_GONE):
        assert f"'{reason}'" in text, reason
    for template, value in (
        (contract.KEY_HARDWARE, "$($facts.provider)"),
        (contract.KEY_NOT_SOFTWARE_KEPT, "$($identity.provider)"),
        (contract.KEY_SHARED, "$sharedWith"),
    ):
        assert f'"{template.format(provider=value, thumbprint=value)}"' in text, template
    assert "within $($KeyTimeoutMs / 1000) s (a prompt or a card may be waiting): not used" in text
