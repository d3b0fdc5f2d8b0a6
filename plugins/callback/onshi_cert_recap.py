# onshi_cert_recap: after the play recap, one line per PC saying what happened and what it needs.
from __future__ import annotations

DOCUMENTATION = """
name: onshi_cert_recap
type: aggregate
short_description: a per-PC summary of what onshi-cert did and what each PC needs
description:
  - Prints, after Ansible's own recap, one line per PC - UNREACHABLE, FAILED, 要対応/ATTENTION (the PC
    needs a person - wrong issuer, wrong code, no backup possible, expiring, inventory and PC disagree),
    changed, 予定/planned (check mode) or ok - with what was (or would be) installed, removed or backed up,
    and for a failure the message and fix.
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
        self.attention: set[str] = set()

    def _note(self, host: str, text: str) -> None:
        self.notes.setdefault(host, [])
        if text and text not in self.notes[host]:
            self.notes[host].append(text)

    def v2_runner_on_ok(self, result) -> None:
        host, data = result._host.get_name(), result._result
        self.outcome.setdefault(host, "ok")
        planned = bool(data.get("planned"))
        if data.get("changed"):
            self.outcome[host] = "planned" if planned and self.outcome[host] != "changed" else "changed"
        verb = "would " if planned else ""
        for item in data.get("installed") or []:
            until = str(item.get("not_after"))[:10]
            self._note(host, f"{verb}install {item.get('facility_code')} until {until}")
        for item in data.get("removed") or []:
            self._note(
                host, f"{verb}remove {str(item.get('thumbprint'))[:8]} ({item.get('detail') or item.get('reason')})"
            )
        new = [b for b in data.get("backups") or [] if b.get("new")]
        if new and data.get("changed"):
            self._note(host, f"{verb}back up {len(new)}")
        attention = list(data.get("attention") or [])
        report = data.get("onshi_cert")
        if isinstance(report, dict):
            attention += [p for p in report.get("problems", []) if p.get("code") not in ("stale", "face_auth_old")]
            if report.get("status") not in (None, "ok"):
                attention = attention or [{"message": report["status"]}]
        if data.get("disagreement"):
            self._note(host, "inventory and PC disagree")
        if attention or data.get("attention_needed"):
            self.attention.add(host)
            for problem in attention[:3]:
                self._note(host, str(problem.get("message")))

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
        order = {"UNREACHABLE": 0, "FAILED": 1, "ATTENTION": 2, "changed": 3, "planned": 4, "ok": 5}
        for host in sorted(hosts, key=lambda h: (order.get(self._status(h), 9), h)):
            outcome = self._status(host)
            notes = " | ".join(self.notes.get(host, [])) or "-"
            label = {"ATTENTION": "要対応/ATTENTION", "planned": "予定/planned"}.get(outcome, outcome)
            colour = {"UNREACHABLE": "bright red", "FAILED": "red", "ATTENTION": "magenta", "changed": "yellow"}.get(
                outcome, "green"
            )
            self._display.display(f"{host.ljust(width)}  {label:16}  {notes}", color=colour)

    def _status(self, host: str) -> str:
        """Return the PC's line status: a failure first, then a PC that needs a person, then what changed."""
        outcome = self.outcome.get(host, "ok")
        if outcome in ("UNREACHABLE", "FAILED"):
            return outcome
        return "ATTENTION" if host in self.attention else outcome
