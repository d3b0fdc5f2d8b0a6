# onshi_cert_preflight: check each PC before any work; the judging is plugin_utils/preflight.py.
from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleActionFail, AnsibleConnectionFailure
from ansible_collections.onshi.cert.plugins.plugin_utils import options, preflight
from ansible_collections.onshi.cert.plugins.plugin_utils.action_frame import OnshiAction
from ansible_collections.onshi.cert.plugins.plugin_utils.agent.contract import Step
from ansible_collections.onshi.cert.plugins.plugin_utils.agent_session import AgentSession, connection_endpoint
from ansible_collections.onshi.cert.plugins.plugin_utils.core import messages
from ansible_collections.onshi.cert.plugins.plugin_utils.i18n import say as _

SPEC = {
    "argument_spec": {
        **options.FACE_AUTH_SPEC,
        "max_clock_skew": {"type": "int", "default": 300},
        "min_free_mb": {"type": "int", "default": 200},
    }
}


class ActionModule(OnshiAction):
    SPEC = SPEC

    def act(self, args, task_vars, host):
        checks = preflight.Checks()
        address, port, https = connection_endpoint(self._connection, host)
        validate = str(task_vars.get("ansible_winrm_server_cert_validation", "validate")).lower() != "ignore"
        cafile = task_vars.get("ansible_winrm_ca_trust_path")
        pinned = task_vars.get("onshi_cert_listener_fingerprint")
        fingerprint = str(self._templar.template(pinned)) if pinned else None
        if preflight.network(
            checks, address, port, https=https, validate=validate, cafile=cafile, fingerprint=fingerprint, host=host
        ):
            self._on_the_pc(checks, args, task_vars)
        failed = checks.failed
        return {
            "changed": False,
            "checks": checks.rows,
            "failed": bool(failed),
            "msg": f"{host}: " + "; ".join(row["detail"] for row in failed)
            if failed
            else _("{host}: every pre-flight check passed", host=host),
        }

    def _on_the_pc(self, checks: preflight.Checks, args: dict[str, Any], task_vars: dict[str, Any]) -> None:
        """The login and its rights (as the connecting user), then the operating user's session and the PC."""
        try:
            session = AgentSession(self, task_vars)
        except AnsibleActionFail as exc:  # secrets would be readable on the wire: said with its code and fix
            found = exc.result
            checks.rows.append(
                {"check": "transport", "ok": False, "error_code": found.get("error_code", ""), "message": str(exc),
                 "fix": found.get("fix", ""), "detail": str(exc)}
            )  # fmt: skip
            return
        try:
            with session.without_become():
                raw = session.run([Step("host_info")]).result_of("host_info")
        except (AnsibleConnectionFailure, AnsibleActionFail) as exc:
            user = str(task_vars.get("ansible_user") or "")
            checks.fail("winrm_login", messages.PRE_AUTH, user=user, detail=_first_line(exc))
            return
        checks.ok("winrm_login", str(raw.get("user")))
        preflight.rights(checks, raw)
        become = bool(self._play_context.become)
        if become:
            try:
                raw = session.run([Step("host_info", {"read_files": [args["face_auth_path"]]})]).result_of("host_info")
            except (AnsibleConnectionFailure, AnsibleActionFail) as exc:
                operator = str(self._play_context.become_user or "")
                checks.fail("become", messages.PRE_BECOME, user=operator, detail=_first_line(exc))
                return
            preflight.operator(checks, raw)
        preflight.machine(checks, args, raw, face_auth=become)


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [""])[0][:200]
