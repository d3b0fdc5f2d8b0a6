"""Argument specs shared by the action plugins, and their translation into core objects."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .core import messages
from .core.errors import FacilityCodeError, OnshiCertError
from .core.facility import DEFAULT_FIELD, DEFAULT_PATTERN, FacilityRule, parse_facility_code
from .core.hoststate import FACE_AUTH_MINIMUM, FACE_AUTH_PATH
from .core.policy import Expectations
from .core.trust import TrustAnchors, TrustError

COMMON_SPEC: dict[str, dict[str, Any]] = {
    "facility_codes": {"type": "list", "elements": "str", "default": []},
    "trust_anchors": {"type": "list", "elements": "str", "default": []},
    "retire_codes": {"type": "list", "elements": "str", "default": []},
    "code_field": {"type": "str", "default": DEFAULT_FIELD},
    "code_pattern": {"type": "str", "default": DEFAULT_PATTERN},
    "known": {"type": "list", "elements": "str", "default": []},
}
FACE_AUTH_SPEC: dict[str, dict[str, Any]] = {
    "face_auth_path": {"type": "str", "default": FACE_AUTH_PATH},
    "face_auth_minimum": {"type": "str", "default": FACE_AUTH_MINIMUM},
}
# Options whose value must be a string in YAML: an unquoted number changes meaning (0644 is octal 420,
# 0130120041 loses its leading zero) and the error that follows would point elsewhere.
TEXT_OPTIONS = ("facility_codes", "retire_codes", "password", "backup_password", "passwords", "facility_code")


class InputTypeError(OnshiCertError):
    """An inventory or vault value that must be text is a number."""


def spec(**options: dict[str, Any]) -> dict[str, Any]:
    """Return an argument spec: the common options plus ``options``."""
    return {"argument_spec": {**COMMON_SPEC, **options}}


def _as_written(value: int) -> str:
    """Return how an unquoted YAML number was probably written (octal when it reads as one; at least the download
    password's 4 digits: ``0042`` reads as 34 and is shown as '0042', not '042')."""
    return f"'{'0' + format(value, 'o'):0>4}'" if value and len(f"{value:o}") < 12 else f"'{value}'"


#: Options holding the whole fleet's entries (the shared vault of download passwords): a task checks only the
#: entry it uses (``text_entry``), so that one clinic's typo stops that clinic's PC, not every PC of the run.
SHARED_OPTIONS = ("passwords",)


def check_text_inputs(raw: Mapping[str, Any], *, skip: tuple[str, ...] = ()) -> None:
    """Refuse numbers where text is required (rule 8: inputs are typed), naming the option and the fix."""
    for name in TEXT_OPTIONS:
        if name in skip:
            continue
        value = raw.get(name)
        items: list[tuple[str, Any]] = []
        if isinstance(value, Mapping):
            items = [(f"{name}[{k!r}]", v) for k, v in value.items()]
        elif isinstance(value, list | tuple):
            items = [(f"{name}[{i}]", v) for i, v in enumerate(value)]
        elif value is not None:
            items = [(name, value)]
        for label, item in items:
            _require_text(label, item)


def text_entry(name: str, key: str, value: Any) -> str:
    """Return one entry of a shared option (``passwords[key]``) as text; refuse a number, naming the entry."""
    _require_text(f"{name}[{key!r}]", value)
    return str(value)


def _require_text(label: str, item: Any) -> None:
    if isinstance(item, bool | int | float):
        raise InputTypeError(messages.NOT_TEXT, label=label, value=item, written=_as_written(int(item)))


def expectations(args: dict[str, Any]) -> Expectations:
    """Return the host's expectations; raise an error naming a bad code or pin."""
    parsed: dict[str, list[str]] = {}
    for option in ("facility_codes", "retire_codes"):
        parsed[option] = []
        for value in args.get(option) or []:
            try:
                parsed[option].append(parse_facility_code(value).code)
            except FacilityCodeError as exc:
                raise FacilityCodeError(messages.CODE_OPTION, option=option, detail=exc) from exc
    codes, retire = parsed["facility_codes"], parsed["retire_codes"]
    try:
        anchors = TrustAnchors.from_config(args.get("trust_anchors") or [])
    except TrustError as exc:
        raise TrustError(messages.TRUST_OPTION, detail=exc) from exc
    return Expectations(tuple(codes), anchors, rule(args), tuple(c for c in retire if c not in codes))


def require_anchors(expect: Expectations) -> None:
    """Refuse to judge anything when no root is pinned: trust would otherwise fall back to names."""
    if not expect.anchors:
        raise TrustError(messages.TRUST_NONE)


def rule(args: dict[str, Any]) -> FacilityRule:
    """Return the facility-code rule: one named subject field and the pattern of a code in it."""
    return FacilityRule(args.get("code_field") or DEFAULT_FIELD, args.get("code_pattern") or DEFAULT_PATTERN)


#: The variable each role's first task (onshi_cert_store) registers; its ``known`` maps each PC to its thumbprints.
#: Read from the task's variables as data: a Jinja expression over it would be evaluated per PC over the whole fleet.
STORE_STATE = "__{role}_store"


def known_thumbprints(
    task_vars: dict[str, Any], given: list[str] | None = None, role: str | None = None
) -> tuple[str, ...]:
    """Return the thumbprints of the PC's certificates that chained to a pinned root when it was last judged.

    Read from the module's ``known`` option, else from ``__<role>_store`` (the fleet record's latest answer of each
    PC, registered by the role's first task), and the ``onshi_cert`` fact (an earlier play of this run, or a fact
    cache): the agent opens only the keys the controller names, and these are named in the first read. A name is
    never trust: each certificate is judged again from what the PC answers.
    """
    if not given and role:  # the role's first task registers the fleet record's answer: read as data, not templated
        state = task_vars.get(STORE_STATE.format(role=role.rsplit(".", 1)[-1]))
        by_host = state.get("known") if isinstance(state, Mapping) else None
        given = by_host.get(task_vars.get("inventory_hostname")) if isinstance(by_host, Mapping) else None
        given = list(given) if isinstance(given, list | tuple) else []
    facts = task_vars.get("ansible_facts")
    report = facts.get("onshi_cert") if isinstance(facts, dict) else None
    rows = report.get("certificates") if isinstance(report, dict) else None
    found = {str(t).upper() for t in given or [] if re.fullmatch(r"[0-9A-Fa-f]{40}", str(t))}
    for row in rows if isinstance(rows, list) else []:
        if isinstance(row, dict) and row.get("trusted") and isinstance(row.get("thumbprint"), str):
            found.add(row["thumbprint"].upper())
    return tuple(sorted(found))
