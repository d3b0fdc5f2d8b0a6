"""Warm Ansible's caches once in the ansible-playbook parent, so that every forked worker inherits them.

Ansible forks a worker per host and task, and each worker would load the same Jinja filter and lookup
plugins, search the same PowerShell module_utils, import the same modules and parse the same role
argument specs anew: about 0.08 s of controller CPU per PC (``bench/fleet.py --profile``). Ansible imports
the action plugins in the parent before its first fork, so this module does that shared work there, once.
It only fills caches: whatever fails here is left for the workers to do as before, and nothing here
changes what a task does. It buys about a quarter of a 1,000-PC audit's controller CPU (0.767x without it,
bench/results/2026-12-07.md); ``gc.freeze``, measured the same way, did not pay and was removed.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import sys
from typing import Any

from .collection import collection_root

#: Expressions using the filters and lookups of the roles' defaults and of typical inventories.
_EXPRESSIONS = (
    "{{ x | default(omit) | bool }}",
    "{{ x | default('{}', true) | from_json }}",
    "{{ lookup('ansible.builtin.env', 'HOME') ~ x | string }}",
)
#: The wrapper scripts ansible-core scans for a PowerShell module run with become (names with and without
#: the .ps1 suffix, which changed between ansible-core releases).
_SCRIPTS = ("exec_wrapper", "become_wrapper", "module_wrapper", "bootstrap_wrapper")
#: Modules a worker imports while it runs an agent request over WinRM or PSRP (pywinrm's and pypsrp's own; one
#: that is not installed is skipped).
_MODULES = ("spnego", "requests_ntlm", "winrm.transport", "pypsrp.client")

_done = False
#: meta/argument_specs.yml of this collection's roles, parsed once: real path of the role -> its specs.
_ROLE_SPECS: dict[str, dict[str, Any]] = {}


def _debug(message: str) -> None:
    """Say ``message`` at -vvvv in Ansible's own display."""
    from ansible.utils.display import Display

    Display().vvvv(message)


def in_ansible_parent() -> bool:
    """Return True in the ansible-playbook process itself (not in a forked worker, not in onshi-cert)."""
    return multiprocessing.parent_process() is None and "ansible.executor.task_queue_manager" in sys.modules


def warm() -> None:
    """Fill the caches the workers share, once per ansible-playbook process."""
    global _done
    if _done or not in_ansible_parent():
        return
    _done = True
    for step in (_templating, _powershell, _imports, _role_specs, _crypto, _requirements):
        try:
            step()
        except Exception as exc:  # only a cache left empty: the workers fill it as before; said at -vvvv
            _debug(f"onshi-cert: warm-up step {step.__name__} skipped: {type(exc).__name__}: {exc}")


def _templating() -> None:
    from ansible.parsing.dataloader import DataLoader
    from ansible.plugins.loader import lookup_loader
    from ansible.template import Templar

    try:
        from ansible.template import trust_as_template  # ansible-core 2.19 and later
    except ImportError:  # earlier releases template any string

        def trust_as_template(value: str) -> str:
            return value

    templar = Templar(loader=DataLoader(), variables={"x": "1"})
    for expression in _EXPRESSIONS:
        with contextlib.suppress(Exception):
            templar.template(trust_as_template(expression))
    lookup_loader.get("ansible.builtin.file")


def _powershell() -> None:
    from ansible.executor.powershell import module_manifest

    finder = module_manifest.PSModuleDepFinder()
    for name in _SCRIPTS:
        for candidate in (f"{name}.ps1", name):
            with contextlib.suppress(Exception):
                finder.scan_exec_script(candidate)
                break


def _imports() -> None:
    import importlib

    for name in _MODULES:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)


def role_argument_specs(role: Any) -> dict[str, Any]:
    """Return a role's argument specs (``argument_specs`` of meta/argument_specs.yml), parsed once per process
    (in the parent for this collection's roles): Ansible itself parses the file again in every worker."""
    key = os.path.realpath(str(getattr(role, "_role_path", "")))
    if key not in _ROLE_SPECS:
        _ROLE_SPECS[key] = role._get_role_argspecs()
    return _ROLE_SPECS[key]


def _role_specs() -> None:
    import yaml  # plain YAML of our own: libyaml's safe loader reads it about 7x faster than Ansible's loader

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    for spec_file in sorted((collection_root() / "roles").glob("*/meta/argument_specs.yml")):
        data = yaml.load(spec_file.read_text(encoding="utf-8"), Loader=loader)
        _ROLE_SPECS[os.path.realpath(spec_file.parents[1])] = (data or {}).get("argument_specs") or {}


def _crypto() -> None:
    """Use once each cryptographic primitive a worker uses: OpenSSL looks an algorithm up on its first use in a
    process (SHA-256, an RSA signature check, AES: about 1 ms each), which every forked worker would pay again.
    The key and certificate are made here for this and thrown away."""
    import datetime as dt
    import hashlib
    import hmac

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, padding, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from cryptography.x509.oid import NameOID

    try:
        from cryptography.hazmat.decrepit.ciphers.algorithms import ARC4, TripleDES
    except ImportError:  # cryptography before 43 keeps them with the other ciphers
        from cryptography.hazmat.primitives.ciphers.algorithms import ARC4, TripleDES  # type: ignore[no-redef]

    from .core import trust

    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    now = dt.datetime.now(dt.UTC)

    def certificate(common_name: str, ca: bool) -> x509.Certificate:
        return (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "onshi-cert warm-up CA")]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )

    root = certificate("onshi-cert warm-up CA", True)
    leaf = certificate("onshi-cert warm-up", False)
    root.fingerprint(hashes.SHA1())
    anchors = trust.TrustAnchors.from_config([root.public_bytes(serialization.Encoding.PEM).decode()])
    anchors.verify(leaf, [root])
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    serialization.load_der_private_key(der, None).private_numbers()  # type: ignore[union-attr]
    for algorithm, iv in ((algorithms.AES(bytes(16)), bytes(16)), (TripleDES(bytes(24)), bytes(8))):
        Cipher(algorithm, modes.CBC(iv)).decryptor().update(bytes(16))
    Cipher(ARC4(bytes(16)), mode=None).encryptor().update(bytes(16))  # NTLM message sealing (WinRM over HTTP)
    padding.PKCS7(128).unpadder()
    for digest in ("sha1", "sha256"):
        hashlib.pbkdf2_hmac(digest, b"", b"", 1)
    hmac.new(bytes(16), b"", "md5").digest()


def _requirements() -> None:
    from . import requirements

    requirements.missing()
