"""Run the workflow against one lab PC in this process: the agent model, without WinRM in between.

For decision tests (what is kept, installed, removed, restored), which need the PC's stores after
the run but not the wire; transport, ``become``, secrets and interruption are tested over real WinRM.
The agent model is the same one the lab's WinRM listener runs, so both see the same PC.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from onshi_cert.agent.contract import Response, Step, build_request, parse_response
from onshi_cert_tools.lab.agent_model import run_agent
from onshi_cert_tools.lab.windows import Session, WindowsHost


class LabRunner:
    """A workflow runner for one :class:`WindowsHost`: the operator by ``become``, the administrator without."""

    def __init__(self, host: WindowsHost, *, admin: str = "Administrator", dpapi: bool = True) -> None:
        self.host = host
        self.operator = Session(host.operator, admin=False, logon_type="interactive", dpapi=dpapi, become=True)
        self.admin = Session(admin, admin=True, logon_type="network", dpapi=False)
        self.session = self.operator
        self.executions = 0
        self.requests: list[list[Step]] = []

    def run(self, steps: list[Step], *, check_mode: bool = False) -> Response:
        """Run ``steps`` as one agent execution, as the current session."""
        self.executions += 1
        self.requests.append(list(steps))
        return parse_response(run_agent(self.host, self.session, build_request(steps, check_mode=check_mode)))

    @contextlib.contextmanager
    def without_become(self) -> Iterator[None]:
        """Run as the connecting administrator (a network logon) for the duration."""
        before, self.session = self.session, self.admin
        try:
            yield
        finally:
            self.session = before


__all__ = ["LabRunner"]
