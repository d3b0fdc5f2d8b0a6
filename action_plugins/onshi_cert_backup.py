# onshi_cert_backup: verified PFX backups of each facility code's certificate, kept on the controller.
from __future__ import annotations

from pathlib import Path

from ansible.plugins.action import ActionBase

from onshi_cert import options, workflow
from onshi_cert.ansible_support import AgentSession, fail, one_time_password
from onshi_cert.core.errors import OnshiCertError

SPEC = options.spec(
    backup_dir={"type": "path", "required": True},
    backup_password={"type": "str", "required": True, "no_log": True},
    pc_copy_dir={"type": "str"},
)


class ActionModule(ActionBase):
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        _, args = self.validate_argument_spec(**SPEC)
        host = task_vars.get("inventory_hostname", "?")
        session = AgentSession(self, task_vars)
        try:
            settings = workflow.Settings(
                expect=options.expectations(args),
                rule=options.rule(args),
                check_mode=bool(self._task.check_mode),
                backup_dir=Path(args["backup_dir"]),
                backup_password=args["backup_password"],
                new_password=one_time_password,
            )
            outcome = workflow.backup(session, settings, host, pc_copy_dir=args.get("pc_copy_dir"))
        except OnshiCertError as exc:
            raise fail(host, exc) from None
        for warning in outcome.get("warnings", []):
            self._display.warning(f"{host}: {warning}")
        result.update(outcome)
        return result
