# onshi_cert_recap: after the play recap, one line per PC saying what happened and what it needs.
from __future__ import annotations

DOCUMENTATION = """
name: onshi_cert_recap
type: aggregate
short_description: a per-PC summary of what onshi-cert did and what each PC needs
description:
  - Prints, after Ansible's own recap, one line per PC in Japanese and English terms - changed, ok,
    failed or unreachable - with what was installed, removed or backed up, and for a failure the
    message and fix.
requirements:
  - enable in ansible.cfg (callbacks_enabled = onshi_cert_recap)
"""

from ansible.plugins.callback import CallbackBase  # noqa: E402 - Ansible wants documentation first

UNREACHABLE_FIX = (
    "check that the PC is on and reachable, that WinRM is enabled (winrm quickconfig) and the "
    "inventory's ansible_host, ansible_port, user and password"
)


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "onshi_cert_recap"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self) -> None:
        super().__init__()
        self.notes: dict[str, list[str]] = {}
        self.outcome: dict[str, str] = {}

    def _note(self, host: str, text: str) -> None:
        self.notes.setdefault(host, [])
        if text and text not in self.notes[host]:
            self.notes[host].append(text)

    def v2_runner_on_ok(self, result) -> None:
        host, data = result._host.get_name(), result._result
        self.outcome.setdefault(host, "ok")
        if data.get("changed"):
            self.outcome[host] = "changed"
        if data.get("imported") and data.get("changed"):
            self._note(host, f"installed {data.get('facility_code')} until {str(data.get('not_after'))[:10]}")
        if data.get("removed") and data.get("changed"):
            self._note(host, f"removed {len(data['removed'])} stale")
        new = [b for b in data.get("backups") or [] if b.get("new")]
        if new and data.get("changed"):
            self._note(host, f"backed up {len(new)}")
        report = data.get("onshi_cert")
        if isinstance(report, dict) and report.get("status") not in (None, "ok"):
            self._note(host, "; ".join(p["message"] for p in report.get("problems", [])[:3]))

    def v2_runner_on_failed(self, result, ignore_errors=False) -> None:
        if ignore_errors:
            return
        host = result._host.get_name()
        self.outcome[host] = "FAILED"
        self._note(host, str(result._result.get("msg", "failed")).strip().splitlines()[0])

    def v2_runner_on_unreachable(self, result) -> None:
        host = result._host.get_name()
        self.outcome[host] = "UNREACHABLE"
        message = str(result._result.get("msg", "")).strip().splitlines()[0][:160]
        self._note(host, f"{message} Fix: {UNREACHABLE_FIX}")

    def v2_playbook_on_stats(self, stats) -> None:
        hosts = sorted(set(self.outcome) | set(stats.processed))
        if not hosts:
            return
        self._display.banner("ONSHI-CERT RECAP / 作業結果")
        width = max(len(h) for h in hosts)
        order = {"UNREACHABLE": 0, "FAILED": 1, "changed": 2, "ok": 3}
        for host in sorted(hosts, key=lambda h: (order.get(self.outcome.get(h, "ok"), 9), h)):
            outcome = self.outcome.get(host, "ok")
            notes = " | ".join(self.notes.get(host, [])) or "-"
            colour = {"UNREACHABLE": "bright red", "FAILED": "red", "changed": "yellow"}.get(outcome, "green")
            self._display.display(f"{host.ljust(width)}  {outcome:11}  {notes}", color=colour)
