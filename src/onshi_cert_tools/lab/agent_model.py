"""The lab's implementation of the agent contract, against the Windows model.

It answers exactly as ``onshi_cert_agent.ps1`` does, including Windows' own error messages, so the
controller cannot tell the lab from a PC except by what the lab chooses to model.
"""

from __future__ import annotations

import base64
import datetime as dt
import ntpath
import os
import shutil
import subprocess
from collections.abc import Callable
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from onshi_cert.agent.contract import (
    CONTRACT_VERSION,
    HR_ACCESS_DENIED,
    KEY_GONE,
    KEY_HARDWARE,
    KEY_NOT_SOFTWARE_KEPT,
    KEY_PROMPT,
    KEY_SHARED,
    KEY_TIMEOUT,
    MESSAGES,
    MUTATING,
    OPERATIONS,
    SOFTWARE_PROVIDERS,
    STORES,
    WIN_ACCESS_DENIED,
    WIN_BAD_PASSWORD,
    WIN_CANCELED,
    WIN_FILE_IN_USE,
    WIN_KEY_NOT_EXPORTABLE,
    WIN_NO_KEYSET,
    WINDOWS_MESSAGES,
    failure,
    seal,
)
from onshi_cert.core.pkcs12 import Encryption, encrypt_pkcs12, read_protection
from onshi_cert_tools.lab.windows import Session, StoredCert, WindowsHost


class WindowsError_(Exception):
    """An exception whose message is Windows' own (English) text; ``localized`` gives the PC's language."""

    @property
    def hresult(self) -> str | None:
        """Return the HRESULT behind a known Windows message."""
        return HRESULT_OF.get(str(self))

    def localized(self, language: str) -> str:
        """Return the message as a Windows of ``language`` (en-US, ja-JP) words it."""
        code = self.hresult
        return WINDOWS_MESSAGES[code].get(language, str(self)) if code else str(self)


HRESULT_OF = {texts["en-US"]: code for code, texts in WINDOWS_MESSAGES.items()}


class Interrupted(Exception):
    """The connection is cut at a step boundary (fault injection); steps before it took effect."""


def _arg(args: dict[str, Any], name: str) -> Any:
    if name not in args:
        raise WindowsError_(f"missing argument '{name}'")
    return args[name]


def _store_name(args: dict[str, Any]) -> str:
    store = str(_arg(args, "store"))
    if store not in STORES:
        raise WindowsError_(f"unknown store '{store}'")
    return store


# Windows shows the LocalMachine physical store inside these CurrentUser logical stores (not inside My).
MERGED_VIEWS = {"CurrentUser\\Root": "LocalMachine\\Root", "CurrentUser\\CA": "LocalMachine\\CA"}


def visible(host: WindowsHost, session: Session, store: str) -> list[StoredCert]:
    """Return what opening ``store`` shows: in CurrentUser\\Root and \\CA also the machine's certificates."""
    own = host.stores.get(host.store_key(session, store), [])
    machine = host.stores.get(MERGED_VIEWS[store], []) if store in MERGED_VIEWS else []
    seen = {c.thumbprint for c in own}
    return [*own, *(c for c in machine if c.thumbprint not in seen)]


def _writable(host: WindowsHost, session: Session, store: str) -> list[StoredCert]:
    if store.startswith("LocalMachine") and not session.admin:
        raise WindowsError_(WIN_ACCESS_DENIED)
    return host.store(session, store)


def read_text(data: bytes) -> str:
    """Decode a file as the agent does: a BOM decides; else strict UTF-8; else CP932 (what Japanese tools write)."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp932", errors="replace")


def host_info(host: WindowsHost, session: Session, args: dict[str, Any]) -> dict[str, Any]:
    """Return the host facts as the agent reads them: one unreadable file is that file's error, not the PC's."""
    files: dict[str, str | None] = {}
    file_errors: dict[str, str] = {}
    for path in args.get("read_files") or []:
        content = host.files.get(path)
        if path in host.unreadable_files:
            files[path] = None
            file_errors[path] = WIN_FILE_IN_USE.format(path=path)
        else:
            files[path] = read_text(base64.b64decode(content)) if content is not None else None
    account = host.user(session.user)
    return {
        "computer_name": host.name.upper()[:15],
        "os_build": host.os_build,
        "os_version": f"10.0.{host.os_build}.0",
        "ps_version": host.ps_version,
        "user": f"{host.name.upper()[:15]}\\{session.user}",
        "is_admin": session.admin,
        "logon_type": session.logon_type,
        "dpapi": session.dpapi,
        "files": files,
        "file_errors": file_errors,
        "event_source_exists": str(args["event_source"]) in host.event_sources if args.get("event_source") else None,
        "utc_now": (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=host.clock_offset_seconds)).isoformat(),
        "system_free_mb": host.system_free_mb,
        "profile": bool(account.profile) if account else False,
        "admin_member": None if host.admin_membership_unknown else bool(account.admin) if account else False,
        "token_filter_policy": host.token_filter_policy,
        # WSMan:\\localhost\\Service, readable by an administrator only
        "winrm": {"basic": host.basic_auth, "allow_unencrypted": host.allow_unencrypted} if session.admin else None,
    }


def _facts(stored: StoredCert, session: Session, probe: bool = True) -> dict[str, Any]:
    """Return a certificate's key facts as the agent reads them; without ``probe`` the key is not touched."""
    has_key = stored.key_pem is not None
    facts: dict[str, Any] = {
        "has_private_key": has_key,
        "key_probed": False,
        "key_usable": None,
        "key_exportable": None,
        "provider": None,
        "key_protection": None,
        "key_error": None,
    }
    if not has_key or not probe:
        return facts
    facts |= {"key_probed": True, "key_usable": False}
    if stored.hangs:
        return facts | {"key_protection": "ui", "key_error": KEY_TIMEOUT}
    if not stored.usable:  # the container is gone: opening fails before the provider is known
        return facts | {"key_error": WIN_NO_KEYSET}
    facts |= {"provider": stored.provider, "key_exportable": stored.exportable, "key_protection": stored.protection}
    if stored.provider not in SOFTWARE_PROVIDERS:
        return facts | {"key_protection": "hardware", "key_error": KEY_HARDWARE.format(provider=stored.provider)}
    if stored.protection != "none":
        return facts | {"key_error": KEY_PROMPT}
    # Opening a user key needs DPAPI: a plain network logon sees the key but cannot sign with it.
    if not session.dpapi:
        return facts | {"key_error": WIN_KEY_NOT_EXPORTABLE}
    return facts | {"key_usable": True}


def _export(stored: StoredCert, password: str) -> str:
    """Export as .NET Framework does, then seal the bytes as the agent does (contract: sealed exports).

    Windows' ``Export(Pkcs12)`` protects the certificate bag with RC2-40 and the key with 3DES (SHA-1
    MAC). ``cryptography`` cannot write RC2, so the lab asks the openssl command (key and password on
    stdin and in the environment, never on its command line); without it, both bags are 3DES.
    """
    if stored.key_pem is None or not stored.exportable:
        raise WindowsError_(WIN_KEY_NOT_EXPORTABLE)
    data = _windows_pkcs12(stored, password)
    if data is None:
        key = serialization.load_pem_private_key(stored.key_pem.encode(), None)
        data = encrypt_pkcs12(
            key, stored.certificate(), [], password, Encryption.TRIPLE_DES, stored.friendly_name or None
        )
    return seal(data, password)


def _windows_pkcs12(stored: StoredCert, password: str) -> bytes | None:
    """Return a PKCS#12 shaped like Windows' export (RC2-40 certificates, 3DES key), or None without openssl."""
    openssl = shutil.which("openssl")
    if openssl is None:
        return None
    # openssl reads the key, then the certificates, from one stdin it cannot rewind: the key goes first
    pem = str(stored.key_pem).encode() + stored.certificate().public_bytes(serialization.Encoding.PEM)
    command = [openssl, "pkcs12", "-export", "-certpbe", "PBE-SHA1-RC2-40", "-keypbe", "PBE-SHA1-3DES"]
    command += ["-macalg", "sha1", "-passout", "env:ONSHI_LAB_EXPORT_PASSWORD"]
    if stored.friendly_name:
        command += ["-name", stored.friendly_name]
    for extra in (["-legacy"], []):  # OpenSSL 3 needs the legacy provider for RC2; 1.1 has no such flag
        done = subprocess.run(
            command + extra,
            input=pem,
            capture_output=True,
            env={"PATH": os.environ.get("PATH", ""), "ONSHI_LAB_EXPORT_PASSWORD": password},
            check=False,
        )
        if done.returncode == 0 and done.stdout:
            return done.stdout
    return None


def _thumbprints(args: dict[str, Any], name: str) -> set[str]:
    return {str(t).upper() for t in args.get(name) or []}


def list_certs(host: WindowsHost, session: Session, args: dict[str, Any]) -> dict[str, Any]:
    """List a store's certificates; open only the keys named in ``probe``, export only those named in ``export``."""
    store = _store_name(args)
    if store in host.unopenable_stores:
        raise WindowsError_(WIN_ACCESS_DENIED)
    password = args.get("export_password")
    probe, export = _thumbprints(args, "probe"), _thumbprints(args, "export")
    rows = []
    for stored in visible(host, session, store):
        facts = _facts(stored, session, stored.thumbprint in probe | export)
        row = {"der": stored.der, **facts, "friendly_name": stored.friendly_name}
        if password is not None and stored.key_pem is not None and stored.thumbprint in export:
            if facts["key_protection"] != "none":
                row["export_error"] = facts["key_error"]
            else:
                try:
                    row["pfx"] = _export(stored, str(password))
                except WindowsError_ as exc:
                    row["export_error"] = exc.localized(host.language)
        rows.append(row)
    return {"store": store, "certificates": rows}


def import_pfx(host: WindowsHost, session: Session, args: dict[str, Any]) -> dict[str, Any]:
    """Import a PFX's leaf and key with Exportable, PersistKeySet and UserKeySet.

    With ``thumbprint`` naming a certificate already present with a usable key, nothing is imported
    (no orphan key container). A certificate present with a lost key is removed and the imported one
    added with its key (the agent's Add-OrReplace): ``replaced``.
    """
    store = _store_name(args)
    wanted = str(args.get("thumbprint") or "").upper()
    if wanted:
        existing = next((c for c in host.store(session, store) if c.thumbprint == wanted), None)
        if existing is not None and _facts(existing, session)["key_usable"]:
            return {"thumbprint": wanted, "already_present": True, "replaced": False}
    data = base64.b64decode(_arg(args, "pfx"))
    password = str(_arg(args, "password"))
    try:
        protection = read_protection(data)
        loaded = pkcs12.load_pkcs12(data, password.encode())
    except Exception as exc:
        raise WindowsError_(WIN_BAD_PASSWORD) from exc
    if protection.min_windows_build > host.os_build:
        raise WindowsError_(WIN_BAD_PASSWORD)  # Windows before 1709 cannot read PBES2/AES
    if loaded.cert is None:
        raise WindowsError_("Cannot find the requested object.")
    if loaded.key is not None and store.startswith("CurrentUser") and not session.dpapi:
        raise WindowsError_(WIN_BAD_PASSWORD)  # no DPAPI to protect a persisted user key
    target = _writable(host, session, store)
    der = loaded.cert.certificate.public_bytes(serialization.Encoding.DER)
    stored = StoredCert(der=base64.b64encode(der).decode())
    if loaded.key is not None:
        stored.key_pem = loaded.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
    if loaded.cert.friendly_name:
        stored.friendly_name = loaded.cert.friendly_name.decode(errors="replace")
    present = next((c for c in target if c.thumbprint == stored.thumbprint), None)
    if present is None:
        target.append(stored)
        return {"thumbprint": stored.thumbprint, "already_present": False, "replaced": False}
    if stored.key_pem is None or _facts(present, session)["key_usable"]:
        return {"thumbprint": stored.thumbprint, "already_present": True, "replaced": False}
    target[target.index(present)] = stored
    return {"thumbprint": stored.thumbprint, "already_present": False, "replaced": True}


def add_cert(host: WindowsHost, session: Session, args: dict[str, Any]) -> dict[str, Any]:
    """Add a certificate without key; CurrentUser\\Root needs a prompt a remote session cannot show."""
    store = _store_name(args)
    der = base64.b64decode(_arg(args, "der"))
    try:
        x509.load_der_x509_certificate(der)
    except ValueError as exc:
        raise WindowsError_("Cannot find the requested object.") from exc
    stored = StoredCert(der=base64.b64encode(der).decode())
    target = _writable(host, session, store)
    # The agent looks in the store it opened first, and that view includes the machine's certificates.
    present = any(c.thumbprint == stored.thumbprint for c in visible(host, session, store))
    if not present:
        if store == "CurrentUser\\Root":
            raise WindowsError_(WIN_CANCELED)
        target.append(stored)
    return {"thumbprint": stored.thumbprint, "already_present": present}


def _public_key(stored: StoredCert) -> bytes:
    return (
        stored.certificate()
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def remove_cert(host: WindowsHost, session: Session, args: dict[str, Any]) -> dict[str, Any]:
    """Remove a certificate, then delete its key when that is verifiably safe (the agent's Invoke-RemoveCert).

    A key another certificate of the store shares (same public key, with a key) is kept, as is a hardware key;
    a key already gone is not deleted: ``key_deleted`` is true only for a key that was there and is gone.
    """
    store = _store_name(args)
    thumbprint = str(_arg(args, "thumbprint")).upper()
    target = _writable(host, session, store)
    result: dict[str, Any] = {"thumbprint": thumbprint, "removed": False, "key_deleted": False}
    for stored in [c for c in target if c.thumbprint == thumbprint]:
        shared = next(
            (
                c.thumbprint
                for c in target
                if c.thumbprint != thumbprint and c.key_pem is not None and _public_key(c) == _public_key(stored)
            ),
            None,
        )
        target.remove(stored)
        result["removed"] = True
        if shared is not None:
            result["key_error"] = KEY_SHARED.format(thumbprint=shared)
        elif stored.key_pem is None:
            continue
        elif not stored.usable or stored.hangs:  # the agent could not open it (gone, or no answer in time)
            result["key_error"] = KEY_GONE
        elif stored.provider not in SOFTWARE_PROVIDERS:
            result["key_error"] = KEY_NOT_SOFTWARE_KEPT.format(provider=stored.provider)
        else:
            result["key_deleted"] = True
    return result


def _find(host: WindowsHost, session: Session, args: dict[str, Any]) -> tuple[str, StoredCert]:
    """Return the thumbprint and the certificate the step names, or fail as the agent does."""
    store = _store_name(args)
    thumbprint = str(_arg(args, "thumbprint")).upper()
    for stored in visible(host, session, store):
        if stored.thumbprint == thumbprint:
            return thumbprint, stored
    raise WindowsError_(f"no certificate with thumbprint {thumbprint} in {store}")


def export_pfx(host: WindowsHost, session: Session, args: dict[str, Any]) -> dict[str, Any]:
    """Export a certificate with its key as .NET does (3DES), or fail as Windows does."""
    thumbprint, stored = _find(host, session, args)
    return {"thumbprint": thumbprint, "pfx": _export(stored, str(_arg(args, "password")))}


def assert_cert(host: WindowsHost, session: Session, args: dict[str, Any]) -> dict[str, Any]:
    """Check a certificate's key facts; fail (stopping later steps) when one differs."""
    thumbprint, stored = _find(host, session, args)
    facts = _facts(stored, session)
    for name, wanted in dict(_arg(args, "expect")).items():
        if bool(facts.get(name)) != bool(wanted):
            raise WindowsError_(f"{name} is {facts.get(name)}, expected {wanted}")
    return {"thumbprint": thumbprint, **facts}


def write_file(host: WindowsHost, session: Session, args: dict[str, Any]) -> dict[str, Any]:
    """Write a file through ``<path>.partial`` and a move."""
    path = str(_arg(args, "path"))
    content = base64.b64decode(_arg(args, "content"))
    folder = ntpath.dirname(path)
    known = {ntpath.dirname(p).lower() for p in host.files} | {d.lower() for d in host.readonly_dirs}
    if folder.lower() not in known and not folder.lower().startswith(("c:\\users\\", "c:\\programdata\\")):
        raise WindowsError_(f"folder '{folder}' does not exist")
    if folder.lower() in {d.lower() for d in host.readonly_dirs} and not session.admin:
        raise WindowsError_(WIN_ACCESS_DENIED)
    host.files[path] = base64.b64encode(content).decode()
    return {"path": path, "size": len(content)}


def add_event_source(host: WindowsHost, session: Session, args: dict[str, Any]) -> dict[str, Any]:
    """Register an Application-log source: an administrator's right (HKLM); refused is answered, not raised."""
    source = str(_arg(args, "source"))
    if source in host.event_sources:
        return {"source": source, "created": False}
    if not session.admin:
        return {
            "source": source,
            "created": False,
            "error": WINDOWS_MESSAGES[HR_ACCESS_DENIED].get(host.language, WIN_ACCESS_DENIED),
        }
    host.event_sources.append(source)
    return {"source": source, "created": True}


# What Windows says when a non-administrator writes with a source that does not exist (it would have to create it).
WIN_NO_SOURCE = (
    "The source was not found, but some or all event logs could not be searched.  Inaccessible logs: Security."
)


def write_event(host: WindowsHost, session: Session, args: dict[str, Any]) -> dict[str, Any]:
    """Append an entry to the Application log; never raises (the trail never stops a change)."""
    source, event_id = str(_arg(args, "source")), int(_arg(args, "event_id"))
    if source not in host.event_sources:
        if not session.admin:
            return {"source": source, "event_id": event_id, "written": False, "error": WIN_NO_SOURCE}
        host.event_sources.append(source)  # WriteEntry creates a missing source when it may
    host.events.append(
        {
            "source": source,
            "event_id": event_id,
            "entry_type": str(_arg(args, "entry_type")),
            "message": str(_arg(args, "message")),
            "user": f"{host.name.upper()[:15]}\\{session.user}",
        }
    )
    return {"source": source, "event_id": event_id, "written": True}


HANDLERS: dict[str, Callable[[WindowsHost, Session, dict[str, Any]], dict[str, Any]]] = {
    "host_info": host_info,
    "list_certs": list_certs,
    "import_pfx": import_pfx,
    "add_cert": add_cert,
    "remove_cert": remove_cert,
    "export_pfx": export_pfx,
    "write_file": write_file,
    "assert_cert": assert_cert,
    "add_event_source": add_event_source,
    "write_event": write_event,
}
assert set(HANDLERS) == set(OPERATIONS), "the lab must implement every operation of the contract"


def run_agent(
    host: WindowsHost,
    session: Session,
    complex_args: dict[str, Any],
    *,
    cut_before_step: int | None = None,
) -> dict[str, Any]:
    """Run the request's steps in order and return the agent's JSON answer.

    ``cut_before_step`` (fault injection) raises Interrupted when that many steps have run; a value
    equal to the number of steps cuts after the last step, before the answer is sent.
    """
    # AppLocker/WDAC: the agent answers before any step. Reached with ansible-core 2.16-2.18 and in-process; with
    # 2.19+ the module wrapper refuses the agent (it imports a module util) before it runs (executor.execute).
    if host.language_mode != "FullLanguage":
        reason = (
            f"PowerShell runs in {host.language_mode} mode (AppLocker or WDAC enforcement), which blocks the .NET "
            "certificate APIs the agent needs"
        )
        return {
            "contract": CONTRACT_VERSION,
            "changed": False,
            "failed": True,
            "steps": [],
            "language_mode": host.language_mode,
            "msg": f"Failed to run 'onshi_cert_agent': {reason}",
        }
    check_mode = bool(complex_args.get("_ansible_check_mode"))
    results: list[dict[str, Any]] = []
    changed = False
    failed_msg = None
    steps = list(complex_args.get("steps") or [])
    for index, step in enumerate(steps):
        if cut_before_step is not None and index == cut_before_step:
            raise Interrupted(f"connection cut before step {index} ({step.get('op')})")
        op = str(step.get("op"))
        args = step.get("args") or {}
        verb, target_arg = MESSAGES.get(op, ("run", op))
        target = host.name.upper()[:15] if target_arg is None else str(args.get(target_arg, op))
        report: dict[str, Any] = {"op": op, "ok": False}
        try:
            if op not in HANDLERS:
                raise WindowsError_(f"unknown operation (contract version {CONTRACT_VERSION})")
            if check_mode and op in MUTATING:
                raise WindowsError_("refusing a change in check mode")
            report["result"] = HANDLERS[op](host, session, args)
            report["ok"] = True
            result = report["result"]
            if (
                (op in ("import_pfx", "add_cert") and not result["already_present"])
                or (op == "remove_cert" and result["removed"])
                or op == "write_file"
                or (op == "add_event_source" and result["created"])
                or (op == "write_event" and result["written"])
            ):
                changed = True
        except WindowsError_ as exc:
            report["error"] = failure(verb, target, exc.localized(host.language))
            if exc.hresult:
                report["hresult"] = exc.hresult
            failed_msg = report["error"]
        results.append(report)
        if failed_msg:
            break
    if cut_before_step is not None and cut_before_step >= len(steps) and not failed_msg:
        raise Interrupted("connection cut after the last step, before the answer")
    output: dict[str, Any] = {
        "contract": CONTRACT_VERSION,
        "changed": changed,
        "failed": bool(failed_msg),
        "steps": results,
    }
    if failed_msg:
        output["msg"] = failed_msg
    return output


__all__ = ["Interrupted", "WindowsError_", "run_agent"]
