"""The order every change follows on a PC: read, plan, back up what will go, import, verify, only then remove.

One module per step of docs/safety.md rule 2: :mod:`.read` (the PC's facts and stores, the task's settings),
:mod:`.offers` (files and backups judged before the PC is touched), :mod:`.saving` (verified backups, one helper),
:mod:`.change` (import, trust, verify, remove in one request), :mod:`.outcome` (what the engineer sees) and
:mod:`.converge`, which runs them in that order.

Pure orchestration over an agent runner (``run(steps, check_mode)``, ``without_become()``); the action
plugins supply one that goes over the task's connection. Every decision is
:func:`onshi_cert.core.policy.plan_host`'s; this module only carries it out. No Ansible imports here.
"""

from ..core.install import PreflightError
from .change import apply
from .converge import converge
from .offers import p12_offers, restore_offers
from .outcome import OUTCOMES, cert_rows, describe_plan, diff, predicted_rows, summary
from .read import AUDIT_STORES, Runner, Settings, State, WorkflowError, audit, read_state
from .saving import backup

__all__ = [
    "AUDIT_STORES",
    "OUTCOMES",
    "PreflightError",
    "Runner",
    "Settings",
    "State",
    "WorkflowError",
    "apply",
    "audit",
    "backup",
    "cert_rows",
    "converge",
    "describe_plan",
    "diff",
    "p12_offers",
    "predicted_rows",
    "read_state",
    "restore_offers",
    "summary",
]
