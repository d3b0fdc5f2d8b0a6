"""The ``onshi-cert`` command: inspect a .p12, make sample certificates, run the lab, render reports."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import subprocess
import sys
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding

from onshi_cert import i18n
from onshi_cert.core import (
    BadPasswordError,
    CorruptPkcs12Error,
    Expectations,
    FacilityCodeError,
    FacilityRule,
    NoPrivateKeyError,
    OnshiCertError,
    Verdict,
    assess,
    load_pkcs12,
    messages,
    parse_facility_code,
    renewal_plan,
)
from onshi_cert.core.certinfo import utcnow
from onshi_cert.core.facility import DEFAULT_FIELD, DEFAULT_PATTERN
from onshi_cert.core.install import judge_bundle
from onshi_cert.core.trust import TrustAnchors, fingerprint, is_ca, is_self_signed, load_certificates, spki_pin
from onshi_cert.i18n import N_, detect_lang, display_width, pad, t, tr
from onshi_cert.i18n import say as _
from onshi_cert_tools import storecli

PASSWORD_ENV = "ONSHI_CERT_PASSWORD"
ANCHORS_ENV = "ONSHI_CERT_TRUST_ANCHORS"  # pins (fingerprints or root certificate files), space-separated

# Exit codes of ``onshi-cert inspect`` (documented in the README and in --help).
EXIT_CODES: dict[str, int] = {
    "ok": 0,
    "usage": 2,
    "bad_password": 3,
    "corrupt": 4,
    "no_key": 5,
    Verdict.EXPIRING.value: 10,
    Verdict.EXPIRED.value: 11,
    Verdict.NOT_YET_VALID.value: 12,
    Verdict.WRONG_FACILITY.value: 13,
    Verdict.WRONG_ISSUER.value: 14,
    Verdict.NOT_CLIENT_AUTH.value: 15,
    Verdict.NO_KEY.value: 5,
    Verdict.BAD_CODE.value: 16,
}

INSPECT_EPILOG = """exit codes:
  0  OK                    10 expiring (renewal window open)
  2  usage error           11 expired
  3  wrong password        12 not yet valid
  4  corrupt file          13 wrong facility code
  5  no private key        14 wrong issuer
                           15 not for client authentication
                           16 no usable facility code (bad check digit, ambiguous)

Trust is a signature chain to a root pinned with --trust-anchor (a SHA-256 fingerprint, or a PEM/DER
file of the root: 'onshi-cert pin FILE' prints the fingerprint), or with ONSHI_CERT_TRUST_ANCHORS
(space-separated) set once in the shell; without one, the verdict is 14.

The password is read from --password-file, else from the environment variable named by
--password-env (default ONSHI_CERT_PASSWORD), else from a prompt; never from an argument."""


#: What to do about each verdict of a file (the fix refusing it on a PC would give; none for OK).
RENEW_FIX = N_(
    "renew before the deadline: with the MPKI client tool on the PC, or apply on the portal and install the renewed "
    ".p12 with renew.yml"
)


def verdict_fix(verdict: str, lang: str) -> str:
    """Return what to do about a file with ``verdict`` ('' for OK) in ``lang``: the fix a PC's refusal of it gives."""
    if verdict == Verdict.OK.value:
        return ""
    if verdict == Verdict.EXPIRING.value:
        return tr(lang, RENEW_FIX)
    refused = messages.REFUSED.get(verdict)
    return tr(lang, refused.fix if refused else messages.P12_NO_KEY.fix)


BER_NOTE = N_(
    "the file is BER-encoded, not the DER the PKCS#12 standard asks for: it was read through cryptography's "
    "fallback (Windows imports such files); should a later cryptography refuse it, download it again"
)


def read_password(args: argparse.Namespace) -> str:
    """Return the password from a file, an environment variable, or a prompt (never argv)."""
    if args.password_file:
        return Path(args.password_file).read_text(encoding="utf-8").rstrip("\r\n")
    value = os.environ.get(args.password_env)
    if value is not None:
        return value
    if sys.stdin.isatty():
        return getpass.getpass("PKCS#12 password / パスワード: ")
    raise OnshiCertError(messages.CLI_NO_PASSWORD, variable=args.password_env)


def _inspect_failure(kind: str, path: str, exc: OnshiCertError, lang: str, as_json: bool) -> int:
    if as_json:
        print(json.dumps({"file": path, "error": kind, **exc.to_dict()}, ensure_ascii=False))
    else:
        print(f"{t('error', lang)}: {path}: [{exc.code}] {exc}", file=sys.stderr)
        if exc.fix:
            print(f"{t('fix', lang)}: {exc.fix}", file=sys.stderr)
    return EXIT_CODES[kind]


def cmd_inspect(args: argparse.Namespace) -> int:
    """Inspect one .p12/.pfx file and print what it holds and its verdict."""
    lang = detect_lang(args.lang)
    try:
        codes = tuple(parse_facility_code(c).code for c in args.expect_code)
    except FacilityCodeError as exc:
        return _inspect_failure("usage", args.file, exc, lang, args.json)
    try:
        data = Path(args.file).read_bytes()
    except OSError as exc:
        err = OnshiCertError(messages.FILE_UNREADABLE, reason=exc.strerror)
        return _inspect_failure("usage", args.file, err, lang, args.json)
    try:
        password = read_password(args)
        bundle = load_pkcs12(data, password)
    except BadPasswordError as exc:
        return _inspect_failure("bad_password", args.file, exc, lang, args.json)
    except CorruptPkcs12Error as exc:
        return _inspect_failure("corrupt", args.file, exc, lang, args.json)
    except NoPrivateKeyError as exc:
        return _inspect_failure("no_key", args.file, exc, lang, args.json)
    except OnshiCertError as exc:
        return _inspect_failure("usage", args.file, exc, lang, args.json)
    try:
        anchors = trust_anchors(args.trust_anchor or os.environ.get(ANCHORS_ENV, "").split())
    except OnshiCertError as exc:
        return _inspect_failure("usage", args.file, exc, lang, args.json)
    expect = Expectations(codes, anchors, FacilityRule(args.code_field, args.code_pattern or DEFAULT_PATTERN))
    judged = judge_bundle(bundle, expect, origin=args.file)
    info = judged.info
    now = utcnow()
    assessment = assess(judged, expect, now)
    plan = renewal_plan(info.not_after, now)
    result = {
        "file": args.file,
        "certificate": info.to_dict(now),
        "verdict": assessment.verdict.value,
        "stage": assessment.stage.value,
        "findings": [v.value for v in assessment.findings],
        "trusted": judged.chain.trusted,
        "trust_reason": judged.chain.reason,
        "chain": [{"subject": c.subject.rfc4514_string(), "role": "root"} for c in judged.chain.chain[-1:]]
        + [{"subject": c.subject.rfc4514_string(), "role": "intermediate"} for c in judged.chain.intermediates]
        if judged.chain.trusted
        else [],
        "encryption": bundle.protection.label,
        "min_windows_build": bundle.protection.min_windows_build,
        "renewal": plan.to_dict(),
        "fix": verdict_fix(assessment.verdict.value, lang),
        "ber": bundle.ber,
    }
    if bundle.ber:
        result["certificate"]["warnings"].append(tr(lang, BER_NOTE))
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        _print_human(result, lang)
    return EXIT_CODES.get(assessment.verdict.value, 0)


def _print_human(result: dict, lang: str) -> None:
    cert = result["certificate"]
    yes, no = t("yes", lang), t("no", lang)
    chain = ", ".join(f"{c['subject']} ({t(c['role'], lang)})" for c in result["chain"]) or no
    build = result["min_windows_build"] or t("any_build", lang)
    renewal = result["renewal"]
    rows = [
        ("file", result["file"]),
        ("subject", cert["subject"]),
        ("issuer", cert["issuer_cn"]),
        ("facility_code", ", ".join(cert["facility_codes"]) or f"{no} ({cert['code_error']})"),
        ("valid_from", cert["not_before"][:10]),
        ("valid_to", cert["not_after"][:10]),
        ("days_remaining", str(cert["days_remaining"])),
        ("thumbprint", cert["thumbprint"]),
        ("serial", cert["serial"]),
        ("client_auth", yes if cert["client_auth"] else no),
        ("key", f"{cert['key_type']} {cert['key_size']}"),
        ("chain", chain if result["trusted"] else f"{no} ({result['trust_reason']})"),
        ("encryption", result["encryption"]),
        ("min_build", str(build)),
        (
            "renewal",
            t(
                "renewal.window",
                lang,
                opens=renewal["window_opens"][:10],
                apply_by=renewal["apply_by"][:10],
                deadline=renewal["deadline"][:10],
                cost=f"{renewal['cost_yen']:,}",
            ),
        ),
        ("stage", t("stage." + result["stage"], lang)),
        ("verdict", t("verdict." + result["verdict"], lang)),
    ]
    if result["fix"]:
        rows.append(("fix", result["fix"]))
    width = max(display_width(t(k, lang)) for k, _ in rows)
    for key, value in rows:
        print(f"{pad(t(key, lang), width)}  {value}")
    for warning in cert["warnings"]:
        print(f"! {warning}")


SAMPLE_ISSUER_CN = "onshi-cert TEST CA - not a real certificate authority"


def cmd_sample(args: argparse.Namespace) -> int:
    """Write a sample CA and .p12 files (password in a 0600 file beside them) for trying the tools."""
    from onshi_cert_tools.factory import CertificateFactory

    out = Path(args.directory)
    out.mkdir(parents=True, exist_ok=True)
    # A name no one can take for the real root: samples end up on test PCs and in rehearsals.
    factory = CertificateFactory(issuer_cn=SAMPLE_ISSUER_CN)
    if args.code:
        samples = {f"{args.host or code}.p12": factory.leaf(parse_facility_code(code).code) for code in args.code}
        passwords = {name.removesuffix(".p12"): "1234" for name in samples}
        (out / "passwords.json").write_text(json.dumps(passwords), encoding="utf-8")
        (out / "passwords.json").chmod(0o600)
    else:
        samples = {
            "3410712362.p12": factory.leaf("3410712362"),
            "0110113719.p12": factory.leaf("0110113719", days_left=45),
        }
    password_file = out / "password.txt"
    password_file.write_text("1234\n", encoding="utf-8")
    password_file.chmod(0o600)
    ca_file = out / "sample-ca.pem"
    ca_file.write_bytes(factory.root.public_bytes(Encoding.PEM))
    print(_("{file}  (a TEST root: pin it only for rehearsals, with --trust-anchor {file})", file=ca_file))
    for name, issued in samples.items():
        target = out / name
        target.write_bytes(issued.p12("1234"))
        target.chmod(0o600)
        print(target)
    print(password_file)
    return 0


def trust_anchors(values: list[str]) -> TrustAnchors:
    """Return the pins given on the command line: fingerprints, or files holding the root certificate."""
    pins: list[str] = []
    for value in values:
        path = Path(value)
        if path.is_file():
            pins += [c.public_bytes(Encoding.PEM).decode() for c in load_certificates(path.read_bytes())]
        else:
            pins.append(value)
    return TrustAnchors.from_config(pins)


def cmd_windows_contract(args: argparse.Namespace) -> int:
    """Write the real-PC contract cases and run-contract.ps1 into ``--out``."""
    from importlib import resources

    from onshi_cert_tools import realpc

    password = os.environ.get(args.password_env)
    if password is None:
        if not sys.stdin.isatty():
            print(f"windows-contract: set {args.password_env} to {args.operator}'s password", file=sys.stderr)
            return 2
        password = getpass.getpass(f"{args.operator} password / パスワード: ")
    if args.winrm:
        connecting = os.environ.get(args.user_password_env)
        if connecting is None:
            print(f"windows-contract: set {args.user_password_env} to {args.user}'s password", file=sys.stderr)
            return 2
        runner_ = realpc.winrm_runner(args.winrm, args.user, connecting, listener_cert=args.listener_cert)
        made, problems = realpc.run(args.out, args.operator, password, runner_)
        failed = {p.split(": ", 1)[0] for p in problems}
        for case in made:
            print(f"{'FAILED' if case.name in failed else 'ok':<7} {case.name}")
        for problem in problems:
            print(f"  {problem}")
        print(f"{len(made) - len(failed)} passed, {len(failed)} failed (over WinRM to {args.winrm})")
        return 1 if problems else 0
    made = realpc.generate(args.out, args.operator, password)
    runner = args.out / "run-contract.ps1"
    runner.write_bytes(resources.files("onshi_cert_tools").joinpath("run-contract.ps1").read_bytes())
    print(f"{len(made)} cases in {args.out} (they hold {args.operator}'s password: delete the folder after the run)")
    print(f"on the Windows PC: powershell -NoProfile -ExecutionPolicy Bypass -File {runner.name} -Folder <this folder>")
    return 0


def cmd_listener_pin(args: argparse.Namespace) -> int:
    """Read the certificate a PC's WinRM listener presents; compare it with what day0.ps1 printed there."""
    from onshi_cert import listener

    address, port = args.address, args.port
    if address.count(":") == 1 and address.rsplit(":", 1)[1].isdigit():  # ADDRESS:PORT (an IPv6 address has more)
        address, port = address.rsplit(":", 1)[0], int(address.rsplit(":", 1)[1])
    try:
        got = listener.pretty(listener.presented(address, port))
        if args.expect:
            listener.check(args.address, address, port, https=True, expected=args.expect)
    except OnshiCertError as exc:
        print(f"listener pin: {exc.describe()}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"listener pin: {args.address}: {exc}", file=sys.stderr)
        return 1
    print(f'onshi_cert_listener_fingerprint: "{got}"')
    if args.expect:
        print(_("it is the certificate day0.ps1 made: record it (inventory, or the ledger's リスナー指紋 column)"))
    else:
        print(_("compare it with the fingerprint day0.ps1 printed on the PC before you record it"))
    return 0


def cmd_listener_day0(args: argparse.Namespace) -> int:
    """Write day0.ps1, the script that brings a clinic PC under management (docs/windows.md, day 0)."""
    from importlib import resources

    args.out.write_bytes(resources.files("onshi_cert_tools").joinpath("day0.ps1").read_bytes())
    print(args.out)
    print(
        _(
            "on the PC, as an administrator: powershell -NoProfile -ExecutionPolicy Bypass -File {name} "
            "-MaintenanceAddress <this controller's address>",
            name=args.out.name,
        )
    )
    return 0


def cmd_pin(args: argparse.Namespace) -> int:
    """Print each CA certificate's SHA-256 fingerprint as the inventory's onshi_cert_trust_anchors wants it."""
    found = []
    for name in args.file:
        try:
            certs = load_certificates(Path(name).read_bytes())
        except (OSError, OnshiCertError) as exc:
            print(f"pin: {name}: {exc.describe() if isinstance(exc, OnshiCertError) else exc}", file=sys.stderr)
            return 2
        for cert in certs:
            root = is_self_signed(cert) and is_ca(cert)
            kind = _("root") if root else _("NOT a self-signed root CA: do not pin")
            valid = _("valid to {date}", date=f"{cert.not_valid_after_utc:%Y-%m-%d}")
            print(f"# {cert.subject.rfc4514_string()} ({kind}), {valid}")
            print("#   " + _("public key SHA-256: {pin}", pin=spki_pin(cert)))
            if root:
                found.append(fingerprint(cert))
    if not found:
        return 1
    print("onshi_cert_trust_anchors:")
    for pin_value in found:
        print(f'  - "{pin_value}"')
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``onshi-cert`` command."""
    parser = argparse.ArgumentParser(
        prog="onshi-cert",
        description="onshi-cert: the client certificates of Online Eligibility Confirmation PCs (オン資PC) - inspect "
        "and pin files, take in downloads, import the fleet's ledger, check PCs before work, alerts, backups, reports "
        "and the lab. The playbooks (provision, renew, replace_pc, backup, cleanup, audit, preflight) do the work.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    inspect = sub.add_parser(
        "inspect",
        help="inspect a .p12/.pfx file",
        epilog=INSPECT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    inspect.add_argument("file", help="the .p12 or .pfx file")
    inspect.add_argument(
        "--expect-code",
        action="append",
        default=[],
        metavar="CODE",
        help="a facility code the certificate must carry (repeatable)",
    )
    inspect.add_argument(
        "--trust-anchor",
        action="append",
        default=[],
        metavar="PIN",
        help="SHA-256 fingerprint of the genuine root CA, or a PEM/DER file of it (repeatable; default: the "
        f"space-separated pins in {ANCHORS_ENV})",
    )
    inspect.add_argument("--password-file", help="file holding the password (first line)")
    inspect.add_argument(
        "--password-env", default=PASSWORD_ENV, help="environment variable holding the password (default %(default)s)"
    )
    inspect.add_argument(
        "--code-field", default=DEFAULT_FIELD, metavar="NAME", help="subject field holding the code (default CN)"
    )
    inspect.add_argument("--code-pattern", help="regular expression matching the facility code")
    inspect.add_argument("--json", action="store_true", help="print JSON")
    inspect.add_argument("--lang", choices=("ja", "en"), help="language of the output (default: locale)")
    inspect.set_defaults(func=cmd_inspect)

    contract = sub.add_parser(
        "windows-contract",
        help="write the agent's contract cases (and their runner) for a real Windows PC",
        description="Write, for every contract case, the exact WinRM command line and stdin ansible-core would "
        "send, and what the answer must show; run them on the PC with run-contract.ps1 (written beside them). "
        "The operating user's password comes from the environment variable named by --password-env, or a prompt.",
    )
    contract.add_argument("--out", type=Path, required=True, help="folder for the cases (copy it to the PC)")
    contract.add_argument("--operator", default="OQSComApp", help="the operating user (become user) on the PC")
    contract.add_argument(
        "--password-env", default="ONSHI_OPERATOR_PASSWORD", help="variable holding its password (default %(default)s)"
    )
    contract.add_argument(
        "--winrm",
        metavar="URL",
        help="run the cases now over WinRM (https://PC:5986/wsman) as --user, instead of writing them for the PC",
    )
    contract.add_argument("--user", default="Administrator", help="with --winrm: the connecting administrator")
    contract.add_argument(
        "--user-password-env", default="ONSHI_WINDOWS_PASSWORD", help="with --winrm: variable holding its password"
    )
    contract.add_argument(
        "--listener-cert", type=Path, help="with --winrm: the PC's listener certificate (PEM) to validate against"
    )
    contract.set_defaults(func=cmd_windows_contract)

    listen = sub.add_parser(
        "listener",
        help="the PCs' WinRM listeners (day 0): read and compare a listener's certificate fingerprint",
    )
    listen_sub = listen.add_subparsers(dest="listener_command", required=True)
    listen_pin = listen_sub.add_parser(
        "pin",
        help="print the SHA-256 fingerprint a PC's HTTPS listener presents (compared with --expect when given)",
        description="Read the certificate of the WinRM HTTPS listener at ADDRESS[:PORT] and print it as the "
        "inventory's onshi_cert_listener_fingerprint. With --expect (what day0.ps1 printed on the PC) a different "
        "certificate is refused (ONSHI-E094).",
    )
    listen_pin.add_argument("address", help="the PC's address, as ansible_host (ADDRESS or ADDRESS:PORT)")
    listen_pin.add_argument("--port", type=int, default=5986, help="the listener's port (default %(default)s)")
    listen_pin.add_argument("--expect", help="the fingerprint day0.ps1 printed on the PC")
    listen_pin.set_defaults(func=cmd_listener_pin)
    listen_day0 = listen_sub.add_parser(
        "day0", help="write day0.ps1: WinRM over HTTPS on a clinic PC, open only to the maintenance addresses"
    )
    listen_day0.add_argument("--out", type=Path, default=Path("day0.ps1"), help="where to write it (default day0.ps1)")
    listen_day0.set_defaults(func=cmd_listener_day0)

    pin = sub.add_parser("pin", help="print the SHA-256 pin of a root CA certificate (PEM or DER file)")
    pin.add_argument("file", nargs="+", help="the CA certificate: from the official site or a known-good PC")
    pin.set_defaults(func=cmd_pin)

    sample = sub.add_parser("sample", help="write sample .p12 files signed by a test CA")
    sample.add_argument("directory")
    sample.add_argument("--code", action="append", help="issue for this facility code instead (repeatable)")
    sample.add_argument("--host", help="name the file <host>.p12 (with one --code)")
    sample.set_defaults(func=cmd_sample)

    lab = sub.add_parser("lab", help="run the simulated fleet of オン資PCs (WinRM on loopback)")
    lab_sub = lab.add_subparsers(dest="lab_command", required=True)
    lab_up = lab_sub.add_parser("up", help="start the lab in the background")
    lab_up.add_argument("--fleet", type=Path, help="fleet file (default: the sample fleet)")
    lab_up.add_argument("--fresh", action="store_true", help="rebuild every PC from the fleet file")
    lab_up.add_argument("--latency", type=float, default=0.0, help="seconds added to every execution")
    lab_up.add_argument("--base-address", help="first loopback address of the fleet (default from the fleet file)")
    lab_issue = lab_sub.add_parser("issue", help="write .p12 files for the PCs that need a certificate")
    lab_issue.add_argument("--out", type=Path, help="folder (default: STATE_DIR/certs)")
    lab_issue.add_argument("--host", action="append", help="issue for these PCs, needed or not (repeatable)")
    lab_sub.add_parser("status", help="show the running lab's PCs and counters")
    lab_sub.add_parser("down", help="stop the lab")
    for command in lab_sub.choices.values():
        command.add_argument("--state-dir", type=Path, default=Path(".lab"), help="lab state folder (default .lab)")
    lab.set_defaults(func=cmd_lab)

    intake = sub.add_parser("intake", help="assign a folder of downloaded .p12 files to the inventory's PCs")
    intake.add_argument("download_dir", type=Path, help="folder of downloaded <digits>.p12 files")
    intake.add_argument("--inventory", "-i", required=True, help="the Ansible inventory of the fleet")
    intake.add_argument(
        "--passwords",
        type=Path,
        required=True,
        help="CSV (file,password) or YAML keyed by file name or Request ID; may be vaulted",
    )
    intake.add_argument(
        "--audit",
        type=Path,
        help="report.json of the last audit: only PCs that need a "
        "certificate get one, and files already installed are reported as done",
    )
    intake.add_argument("--out", type=Path, default=Path("."), help="where certs/ and vault-p12.yml go")
    intake.add_argument("--vault-password-file", help="vault password (default: ANSIBLE_VAULT_PASSWORD_FILE)")
    intake.add_argument("--check", action="store_true", help="show the plan, write nothing")
    intake.add_argument("--json", action="store_true", help="print the plan as JSON")
    intake.add_argument("--lang", choices=("ja", "en"))
    intake.set_defaults(func=cmd_intake)

    fleet = sub.add_parser("fleet", help="make the inventory from the vendor's ledger (端末台帳)")
    fleet_sub = fleet.add_subparsers(dest="fleet_command", required=True)
    imp = fleet_sub.add_parser(
        "import",
        help="read a ledger (.xlsx or .csv) and write hosts.yml and the vaulted credentials",
        description="Columns are found by their headings (医療機関等コード, 端末名, IP, 拠点, 医療機関名, ポート, "
        "管理者, 管理者パスワード, 運用ユーザー, 運用ユーザーパスワード, or English); every row is checked first.",
    )
    imp.add_argument(
        "ledger", type=Path, help="the ledger: .xlsx (the sheet with the headings) or .csv (UTF-8 or Shift_JIS)"
    )
    imp.add_argument("--out", type=Path, required=True, help="the inventory folder, e.g. inventories/<fleet>")
    imp.add_argument("--sheet", help="the sheet to read (default: the first with the headings)")
    imp.add_argument(
        "--column",
        action="append",
        default=[],
        metavar="HEADING=FIELD",
        help="read a column with another heading as FIELD (facility_code, host, address, port, scheme, site, "
        "facility_name, admin_user, admin_password, operator_user, operator_password)",
    )
    imp.add_argument("--trust-anchor", action="append", default=[], help="pin written into group_vars (once)")
    imp.add_argument("--skip-bad-rows", action="store_true", help="write the good rows even when some are bad")
    imp.add_argument("--include-hidden", action="store_true", help="also import rows hidden or filtered out in Excel")
    imp.add_argument("--check", action="store_true", help="show what would change, write nothing")
    imp.add_argument("--vault-password-file", help="vault password (default: ANSIBLE_VAULT_PASSWORD_FILE)")
    imp.add_argument("--lang", choices=("ja", "en"))
    imp.set_defaults(func=cmd_fleet_import)
    tmpl = fleet_sub.add_parser("template", help="write the template ledger (.xlsx)")
    tmpl.add_argument("path", type=Path, help="where to write it, e.g. 端末台帳.xlsx")
    tmpl.set_defaults(func=cmd_fleet_template)

    notify = sub.add_parser(
        "notify",
        help="mail or post expiry alerts from an audit's report.json (90/60/30/15 days, daily in the last week, "
        "expired), once per threshold",
    )
    notify.add_argument(
        "report", type=Path, help="report.json of the latest audit, or the reports folder (its newest report.json)"
    )
    notify.add_argument("--config", type=Path, required=True, help="notification settings (see examples/notify.yml)")
    notify.add_argument(
        "--state", type=Path, help="what was already sent (default: notify-state.json beside the report's folder)"
    )
    notify.add_argument("--check", action="store_true", help="print what would be sent, send nothing")
    notify.add_argument("--lang", choices=("ja", "en"), help="the alerts' language (default: the settings' lang)")
    notify.set_defaults(func=cmd_notify)

    backups = sub.add_parser("backups", help="what the backup folder holds per PC and code, and pruning it")
    backups_sub = backups.add_subparsers(dest="backups_command", required=True)
    listing = backups_sub.add_parser("list", help="per PC and facility code: the current verified backup, or none")
    prune = backups_sub.add_parser(
        "prune", help="remove backups beyond the newest N per PC and code (never the only verified valid one)"
    )
    prune.add_argument("--keep", type=int, default=0, help="backups kept per PC and facility code (0: all)")
    prune.add_argument("--expired", action="store_true", help="also remove expired backups")
    prune.add_argument("--check", action="store_true", help="say what would be removed, remove nothing")
    storecli.add_export_parser(backups_sub)
    for command in (listing, prune):
        command.add_argument("folder", type=Path, help="the backup folder (onshi_cert_backup_dir)")
        command.add_argument("--password-file", help="file holding the backup password")
        command.add_argument(
            "--password-env",
            default="ONSHI_CERT_BACKUP_PASSWORD",
            help="environment variable holding the backup password (default ONSHI_CERT_BACKUP_PASSWORD)",
        )
        command.add_argument("--json", action="store_true", help="print JSON")
        command.add_argument("--lang", choices=("ja", "en"))
        command.set_defaults(func=cmd_backups)

    doctor = sub.add_parser(
        "doctor",
        help="check PCs before any work (DNS, port, TLS, WinRM login, rights, become, profile, clock, disk, build)",
    )
    doctor.add_argument("limit", help="the PC (or an inventory pattern)")
    doctor.add_argument("--inventory", "-i", required=True, help="the Ansible inventory of the fleet")
    doctor.add_argument("--vault-password-file", help="vault password (default: ANSIBLE_VAULT_PASSWORD_FILE)")
    doctor.add_argument("--lang", choices=("ja", "en"))
    doctor.set_defaults(func=cmd_doctor)

    collection = sub.add_parser("collection", help="build the Galaxy collection onshi.cert")
    collection.add_argument("action", choices=["build"])
    collection.add_argument("--out", type=Path, default=Path("dist"))
    collection.set_defaults(func=cmd_collection)

    storecli.add_parsers(sub)

    report = sub.add_parser("report", help="render the fleet report from an audit's report.json")
    report.add_argument("audit", type=Path, help="report.json written by audit.yml (or onshi_cert_report)")
    report.add_argument("--out", type=Path, required=True, help="folder for the report files")
    report.set_defaults(func=cmd_report)
    return parser


def cmd_lab(args: argparse.Namespace) -> int:
    """Start, inspect, feed or stop the lab."""
    from onshi_cert_tools.lab import downloads, runtime

    state_dir: Path = args.state_dir
    if args.lab_command == "up":
        client = runtime.up(
            state_dir,
            args.fleet or runtime.SAMPLE_FLEET,
            fresh=args.fresh,
            latency=args.latency,
            base_address=args.base_address,
        )
        status = client.status()
        print(
            f"lab up: {len(status['hosts'])} PCs, control API http://127.0.0.1:{status['control_port']}, "
            f"state {state_dir}"
        )
        print(f"inventory: {client.inventory}")
        return 0
    if args.lab_command == "issue":
        out = args.out or state_dir / "certs"
        written = downloads.issue(state_dir, out, args.host)
        for host, name in sorted(written.items()):
            print(f"{host}: {out / name}")
        print(f"passwords: {out / 'passwords.json'} ({len(written)} PCs)")
        return 0
    client = runtime.LabClient.find(state_dir)
    if client is None:
        print(f"no lab is running from {state_dir}", file=sys.stderr)
        return 1
    if args.lab_command == "down":
        client.shutdown()
        print("lab down")
        return 0
    for name, host in sorted(client.status()["hosts"].items()):
        port = host["https_port"] or host["http_port"]
        state = "up" if host["reachable"] else "DOWN"
        print(f"{name:28} {host['address']}:{port:<5} {state:4} executions={host['executions']}")
    return 0


def cmd_intake(args: argparse.Namespace) -> int:
    """Plan (and unless --check, carry out) the intake of a download folder."""
    from onshi_cert_tools import intake

    try:
        secret = intake.vault_secret(args.vault_password_file)
        passwords = intake.read_passwords(args.passwords, secret)
        hosts, anchors = intake.inventory_hosts(args.inventory), intake.inventory_anchors(args.inventory)
        result = intake.plan(args.download_dir, hosts, passwords, args.audit, anchors)
        changed = [] if args.check else intake.write(result, args.download_dir, passwords, args.out, secret)
    except (OnshiCertError, OSError) as exc:
        message = exc.describe() if isinstance(exc, OnshiCertError) else str(exc)
        print(f"intake: {message}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result.to_dict() | {"written": changed}, ensure_ascii=False, indent=2))
    else:
        print(intake.table(result, detect_lang(args.lang)))
        print(
            _("(check: nothing written)")
            if args.check
            else _("written: {count} file(s) under {folder}", count=len(changed), folder=args.out)
            if changed
            else _("nothing changed")
        )
    return 0


def cmd_fleet_import(args: argparse.Namespace) -> int:
    """Import the ledger into the inventory folder (or, with --check, say what would change)."""
    from onshi_cert_tools import intake, ledger

    lang = detect_lang(args.lang)
    try:
        extra = {}
        for item in args.column:
            heading, _sep, field = item.partition("=")
            if field not in ledger.HEADINGS:
                print(f"fleet import: --column {item!r}: {', '.join(ledger.HEADINGS)}", file=sys.stderr)
                return 2
            extra[heading] = field
        cells = ledger.read_cells(args.ledger, args.sheet, include_hidden=args.include_hidden, extra=extra)
        parsed = ledger.parse(cells, args.ledger, extra)
        secret = intake.vault_secret(args.vault_password_file)
        if parsed.bad and not args.skip_bad_rows:
            for line in ledger.summary(parsed, None, lang):
                print(line)
            error = ledger.LedgerError(messages.LEDGER_BAD_ROWS, count=len(parsed.bad), path=args.ledger)
            print(f"fleet import: {error.describe()}", file=sys.stderr)
            return 1
        hosts, stored = ledger.load_existing(args.out, secret)
        result = ledger.merge(parsed, hosts, stored)
        for line in ledger.summary(parsed, result, lang):
            print(line)
        if args.check:
            print(_("(check: nothing written)"))
            return 0
        if result.empty and hosts:
            print(_("nothing changed"))
            return 0
        written = ledger.write(args.out, result, secret, args.trust_anchor)
    except OnshiCertError as exc:
        print(f"fleet import: {exc.describe()}", file=sys.stderr)
        return 2
    print(_("written: {count} file(s) under {folder}", count=len(written), folder=args.out))
    return 0


def cmd_notify(args: argparse.Namespace) -> int:
    """Send the expiry alerts that are due (or, with --check, print them)."""
    import yaml

    from onshi_cert.report import notify

    if args.report.is_dir():
        found = sorted(args.report.glob("*/report.json"), key=lambda p: p.stat().st_mtime)
        args.report = found[-1] if found else args.report / "report.json"
    try:
        try:
            data = json.loads(args.report.read_text(encoding="utf-8"))
            config = yaml.safe_load(args.config.read_text(encoding="utf-8")) or {}
        except (OSError, ValueError, yaml.YAMLError) as exc:
            raise notify.NotifyError(messages.NOTIFY_SETTINGS, detail=exc) from None
        settings = notify.Settings.from_dict(config)
        if args.lang:
            settings.lang = args.lang
        data.setdefault("report_path", str(args.report.with_name("report.html").resolve()))
        state = args.state or args.report.resolve().parent.parent / notify.STATE_FILE
        alerts = notify.run(data, settings, state, check=args.check)
    except OnshiCertError as exc:
        print(f"notify: {exc.describe()}", file=sys.stderr)
        return 2
    if args.check and alerts:
        subject, body = notify.text(alerts, data, settings.lang)
        print(subject)
        print(body)
    print(_("{count} alert(s) due", count=len(alerts)) + (" " + _("(check: nothing sent)") if args.check else ""))
    return 0


def cmd_backups(args: argparse.Namespace) -> int:
    """List the backup folder per PC and code, or prune it by the retention rules."""
    from onshi_cert.core import retention
    from onshi_cert.core.backup import BackupIndex

    try:
        password = read_password(args)
    except OnshiCertError as exc:
        print(f"backups: {exc.describe()}", file=sys.stderr)
        return 2
    index = BackupIndex.scan(args.folder)
    if args.backups_command == "list":
        found = retention.holdings(index, password)
        if args.json:
            print(json.dumps([h.to_dict() for h in found], ensure_ascii=False, indent=2))
            return 0
        for holding in found:
            current = holding.current
            detail = (
                _("{file}, expires {date}", file=current.path.name, date=f"{current.not_after:%Y-%m-%d}")
                if current
                else _(BACKUP_STATUS[holding.status])
            )
            count = _("{count} backup(s)", count=holding.count)
            print(f"{holding.host}  {holding.facility_code}  {detail}  ({count})")
        return 0 if all(h.current for h in found) else 1
    decisions = retention.plan(index, password, keep=args.keep, prune_expired=args.expired)
    removed = [] if args.check else retention.apply(decisions)
    if args.json:
        print(json.dumps([d.to_dict() for d in decisions], ensure_ascii=False, indent=2))
        return 0
    for decision in decisions:
        verb = (_("would remove") if args.check else _("removed")) if decision.remove else _("keep")
        print(f"{verb}  {decision.backup.path.name}  {decision.reason}")
    print(_("(check: nothing removed)") if args.check else _("removed: {count} backup(s)", count=len(removed)))
    return 0


BACKUP_STATUS = {
    "expired_only": N_("only expired backups: apply for a new certificate, then back it up"),
    "unverified": N_("no backup opens with this password"),
    "none": N_("no backup"),
}


def cmd_doctor(args: argparse.Namespace) -> int:
    """Run playbooks/preflight.yml on ``limit`` with the per-PC recap; return ansible-playbook's exit code."""
    root = Path(__file__).resolve().parents[2]
    command = [
        str(Path(sys.executable).with_name("ansible-playbook")),
        "-i",
        args.inventory,
        "--limit",
        args.limit,
        str(root / "playbooks" / "preflight.yml"),
    ]
    if args.vault_password_file:
        command += ["--vault-password-file", args.vault_password_file]
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(root / "ansible.cfg"),
        "ANSIBLE_CALLBACKS_ENABLED": "onshi.cert.onshi_cert_recap",
        "ONSHI_CERT_LANG": args.lang or os.environ.get("ONSHI_CERT_LANG", ""),
    }
    return subprocess.run(command, env=env, check=False).returncode


def cmd_fleet_template(args: argparse.Namespace) -> int:
    """Write the template ledger."""
    from onshi_cert_tools import ledger

    ledger.template(args.path)
    print(args.path)
    return 0


def cmd_collection(args: argparse.Namespace) -> int:
    """Build the collection tarball."""
    from onshi_cert_tools.collection import build

    print(build(args.out.resolve()))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Render report files from a report.json."""
    from onshi_cert.report import write_all

    data = json.loads(args.audit.read_text(encoding="utf-8"))
    for path in write_all(data, args.out):
        print(path)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return its exit code."""
    args = build_parser().parse_args(argv)
    i18n.use(getattr(args, "lang", None))
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
