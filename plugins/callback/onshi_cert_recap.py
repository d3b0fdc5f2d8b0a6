# onshi_cert_recap: after the play recap, one line per PC saying what happened and what it needs.
from __future__ import annotations

DOCUMENTATION = """
name: onshi_cert_recap
type: aggregate
short_description: a per-PC summary of what onshi-cert did and what each PC needs
description:
  - Prints, after Ansible's own recap, one line per PC - UNREACHABLE/接続不可, FAILED/失敗, ATTENTION/要対応 (the PC
    needs a person - wrong issuer, wrong code, no backup possible, expiring, inventory and PC disagree),
    changed/変更, planned/予定 (check mode) or ok/正常 - with what was (or would be) installed, removed or backed up,
    and for a failure its error code (ONSHI-E###), the message and the fix; for an unreachable PC the cause in
    words with its address (refused, no answer in time, unknown name, no route, credentials or HTTPS certificate
    refused), Ansible's own output above keeping the connection's whole text.
  - Before the first play, opens each vault-encrypted file in the inventory's and the playbook's C(group_vars) and
    C(host_vars) with the vault password given; when none was given (ONSHI-E037) or it does not open a file
    (ONSHI-E039), says so with the fix before Ansible stops with its own error; a PC stopped at an inline C(!vault)
    value gets the same code and fix in its line.
  - Speaks Japanese or English as the modules do - C(ONSHI_CERT_LANG) (ja or en), else the controller's locale
    (C(LANGUAGE), C(LC_ALL), C(LC_MESSAGES), C(LANG)).
requirements:
  - enable in ansible.cfg (callbacks_enabled = onshi.cert.onshi_cert_recap)
"""

import os  # noqa: E402 - Ansible wants documentation first

from ansible.errors import AnsibleError  # noqa: E402
from ansible.parsing.vault import is_encrypted_file  # noqa: E402
from ansible.plugins.callback import CallbackBase  # noqa: E402
from ansible_collections.onshi.cert.plugins.plugin_utils import i18n  # noqa: E402
from ansible_collections.onshi.cert.plugins.plugin_utils.core import messages  # noqa: E402
from ansible_collections.onshi.cert.plugins.plugin_utils.core.errors import OnshiCertError  # noqa: E402
from ansible_collections.onshi.cert.plugins.plugin_utils.i18n import N_  # noqa: E402
from ansible_collections.onshi.cert.plugins.plugin_utils.i18n import say as _  # noqa: E402
from ansible_collections.onshi.cert.plugins.plugin_utils.reach import connection_cause  # noqa: E402

LABELS = {
    "UNREACHABLE": N_("UNREACHABLE"),
    "FAILED": N_("FAILED"),
    "ATTENTION": N_("ATTENTION"),
    "changed": N_("changed"),
    "planned": N_("planned"),
    "ok": N_("ok"),
}
CONTROLLER_NAMES = ("localhost", "127.0.0.1", "::1")
VAULT_DIRS = ("group_vars", "host_vars")
VAULT_FILES_CHECKED = 20  # a fleet has one vault.yml; a bound keeps a tree of per-host files from slowing the start


def vault_problem(loader, places: list[str]) -> OnshiCertError | None:
    """Return ONSHI-E037/E039 for the first vaulted vars file under ``places`` the given password cannot open."""
    vault = getattr(loader, "_vault", None)  # DataLoader's VaultLib: the secrets ansible-playbook was given
    checked = 0
    for place in places:
        if not os.path.exists(place):
            continue  # a host list ("pc1,pc2,") or a missing path has no vars folders beside it
        base = place if os.path.isdir(place) else os.path.dirname(os.path.abspath(place))
        for top in VAULT_DIRS:
            for folder, _dirs, files in sorted(os.walk(os.path.join(base, top))):
                for name in sorted(files):
                    path = os.path.join(folder, name)
                    try:
                        with open(path, "rb") as handle:
                            if not is_encrypted_file(handle):
                                continue
                            handle.seek(0)
                            data = handle.read()
                    except OSError:
                        continue  # Ansible names an unreadable file itself
                    if vault is None or not vault.secrets:
                        return OnshiCertError(messages.VAULT_NO_PASSWORD, path=path)
                    try:
                        vault.decrypt(data)
                    except AnsibleError:
                        return OnshiCertError(messages.VAULT_WRONG_PASSWORD, path=path)
                    checked += 1
                    if checked >= VAULT_FILES_CHECKED:
                        return None
    return None


def vault_said(line: str) -> str:
    """Return ONSHI-E037/E039 with the fix for a task that stopped at a ``!vault`` value of the inventory, or ''."""
    inline = _("an inline !vault value of the inventory")
    # Ansible's words: "... no vault secrets found" (none given), "... no vault secrets were found that could decrypt"
    if "secrets found" in line:
        return OnshiCertError(messages.VAULT_NO_PASSWORD, path=inline).describe()
    if "could decrypt" in line:
        return OnshiCertError(messages.VAULT_WRONG_PASSWORD, path=inline).describe()
    return ""


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
        self.vault_checked = False
        i18n.use(None)

    def v2_playbook_on_play_start(self, play) -> None:
        if self.vault_checked:
            return
        self.vault_checked = True
        try:
            inventory = getattr(play.get_variable_manager(), "_inventory", None)
            places = [str(s) for s in getattr(inventory, "_sources", None) or [] if isinstance(s, str)]
            places.append(play.get_loader().get_basedir())
            problem = vault_problem(play.get_loader(), places)
        except Exception:  # a check that helps must never be why a run fails
            return
        if problem:
            self._display.display(problem.describe(), color="bright red", stderr=True)

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
        for item in data.get("installed") or []:
            values = {"code": item.get("facility_code"), "date": str(item.get("not_after"))[:10]}
            self._note(
                host,
                _("would install {code} until {date}", **values)
                if planned
                else _("installed {code} until {date}", **values),
            )
        for item in data.get("removed") or []:
            values = {"thumbprint": str(item.get("thumbprint"))[:8], "reason": item.get("detail") or item.get("reason")}
            self._note(
                host,
                _("would remove {thumbprint} ({reason})", **values)
                if planned
                else _("removed {thumbprint} ({reason})", **values),
            )
        for item in data.get("restored") or []:  # the backup used, and every newer one passed over with its reason
            passed = "; ".join(f"{p.get('file')}: {p.get('reason')}" for p in item.get("passed_over") or [])
            text = _("restoring {code} from {file}", code=item.get("facility_code"), file=item.get("file"))
            self._note(host, text + (_(" (newer ones passed over: {detail})", detail=passed) if passed else ""))
        new = [b for b in data.get("backups") or [] if b.get("new")]
        if new and data.get("changed"):
            self._note(
                host, _("would back up {count}", count=len(new)) if planned else _("backed up {count}", count=len(new))
            )
        attention = list(data.get("attention") or [])
        report = data.get("onshi_cert") or (data.get("ansible_facts") or {}).get("onshi_cert")  # audit: fact only
        if isinstance(report, dict):
            attention += [p for p in report.get("problems", []) if p.get("code") not in ("stale", "face_auth_old")]
            if report.get("status") not in (None, "ok"):
                attention = attention or [{"message": report["status"]}]
        if data.get("disagreement"):
            self._note(host, _("inventory and PC disagree"))
        if attention or data.get("attention_needed"):
            self.attention.add(host)
            for problem in attention[:3]:  # each with its fix: 要対応 says what to do
                fix = problem.get("fix")
                self._note(host, str(problem.get("message")) + (" " + _("Fix: {fix}", fix=fix) if fix else ""))

    def v2_runner_on_failed(self, result, ignore_errors=False) -> None:
        if ignore_errors:
            return
        host = result._host.get_name()
        self.outcome[host] = "FAILED"
        lines = str(result._result.get("msg", "failed")).strip().splitlines() or ["failed"]
        self._note(host, vault_said(lines[0]) or lines[0])

    def v2_runner_on_unreachable(self, result) -> None:
        host = result._host.get_name()
        self.outcome[host] = "UNREACHABLE"
        lines = str(result._result.get("msg", "")).strip().splitlines() or [""]
        # Its cause in words (the connection's own first line, whole, when the cause is not known): a sentence cut
        # in the middle, or an exception's text, says nothing one can act on; Ansible's own output above has it all.
        cause = connection_cause(lines[0])
        self._note(host, vault_said(lines[0]) or OnshiCertError(messages.UNREACHABLE, detail=cause).describe())

    def v2_playbook_on_stats(self, stats) -> None:
        # The controller's own plays (the inventory check) are no PC: localhost is listed only when it has a result.
        hosts = sorted(set(self.outcome) | {h for h in stats.processed if h not in CONTROLLER_NAMES})
        if not hosts:
            return
        self._display.banner(_("ONSHI-CERT RECAP"))
        labels = {key: _(text) for key, text in LABELS.items()}
        width = max(i18n.display_width(h) for h in hosts)
        label_width = max(i18n.display_width(text) for text in labels.values())
        order = {"UNREACHABLE": 0, "FAILED": 1, "ATTENTION": 2, "changed": 3, "planned": 4, "ok": 5}
        for host in sorted(hosts, key=lambda h: (order.get(self._status(h), 9), h)):
            outcome = self._status(host)
            notes = " | ".join(self.notes.get(host, [])) or "-"
            colour = {"UNREACHABLE": "bright red", "FAILED": "red", "ATTENTION": "magenta", "changed": "yellow"}.get(
                outcome, "green"
            )
            line = f"{i18n.pad(host, width)}  {i18n.pad(labels[outcome], label_width)}  {notes}"
            self._display.display(line, color=colour)

    def _status(self, host: str) -> str:
        """Return the PC's line status: a failure first, then a PC that needs a person, then what changed."""
        outcome = self.outcome.get(host, "ok")
        if outcome in ("UNREACHABLE", "FAILED"):
            return outcome
        return "ATTENTION" if host in self.attention else outcome
