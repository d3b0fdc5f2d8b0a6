"""The agent contract: the few primitive operations the PC performs, shared by plugins and the lab.

``CONTRACT.md`` beside this file is the prose version; ``onshi_cert_agent.ps1`` is the Windows
implementation and ``onshi_cert_tools.lab.agent_model`` the simulated one. A request is a list of steps run
in order; the first failure stops the rest, and every step is reported.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..collection import collection_root

# Guarded: without cryptography the action plugins stop first and name it (requirements.py).
with contextlib.suppress(ImportError):
    from cryptography.hazmat.primitives import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

CONTRACT_VERSION = 1
AGENT_MODULE = "onshi_cert_agent"
AGENT_FILE = f"{AGENT_MODULE}.ps1"

# Operation name -> (required argument names, changes the PC)
OPERATIONS: dict[str, tuple[tuple[str, ...], bool]] = {
    "host_info": ((), False),
    "list_certs": (("store",), False),
    "import_pfx": (("store", "pfx", "password"), True),
    "add_cert": (("store", "der"), True),
    "remove_cert": (("store", "thumbprint"), True),
    "export_pfx": (("store", "thumbprint", "password"), False),
    "assert_cert": (("store", "thumbprint", "expect"), False),
    "write_file": (("path", "content"), True),
    "add_event_source": (("source",), True),
    "write_event": (("source", "event_id", "entry_type", "message"), True),
}
# Operation name -> (the verb and the argument naming the target in "Failed to <verb> '<target>'"; None: the
# computer). The PowerShell agent's $Verbs table and $MutatingOps list must equal these (a test parses them).
MESSAGES: dict[str, tuple[str, str | None]] = {
    "host_info": ("read", None),
    "list_certs": ("list", "store"),
    "import_pfx": ("import", "store"),
    "add_cert": ("add", "store"),
    "remove_cert": ("remove", "thumbprint"),
    "export_pfx": ("export", "thumbprint"),
    "assert_cert": ("verify", "thumbprint"),
    "write_file": ("write", "path"),
    "add_event_source": ("register", "source"),
    "write_event": ("log", "source"),
}
# The audit trail in the PC's Application event log: the source (created once by the administrator connection)
# and the event ID of each kind of change.
EVENT_SOURCE = "onshi-cert"
EVENT_IDS = {"install": 1001, "remove": 1002, "trust": 1003}
MUTATING = frozenset(op for op, (_required, changes) in OPERATIONS.items() if changes)

# Step arguments that carry secrets or key material: never logged, never returned to the user.
SECRET_ARGS = frozenset({"pfx", "password", "content", "export_password"})
STORES = (
    "CurrentUser\\My",
    "CurrentUser\\Root",
    "CurrentUser\\CA",
    "LocalMachine\\My",
    "LocalMachine\\Root",
    "LocalMachine\\CA",
)

# The key providers whose keys the agent opens (a test signature, an export): Windows' software KSP and CSPs. A key
# of any other provider (smart card, TPM, HPKI/JPKI card, Windows Hello), or one protected with a prompt, is
# reported with ``key_protection`` and ``key_error`` and never opened. The agent's $SoftwareProviders equals this.
SOFTWARE_PROVIDERS = (
    "Microsoft Software Key Storage Provider",
    "Microsoft Enhanced RSA and AES Cryptographic Provider",
    "Microsoft Enhanced Cryptographic Provider v1.0",
    "Microsoft Strong Cryptographic Provider",
    "Microsoft Base Cryptographic Provider v1.0",
    "Microsoft RSA SChannel Cryptographic Provider",
)
#: Each key gets this long to answer (the agent's $KeyTimeoutMs / 1000): a prompt can never hang a PC's job.
KEY_TIMEOUT_S = 15
# The agent's reasons about keys (``key_error``, ``export_error``), word for word.
KEY_HARDWARE = "the key is held by '{provider}', not a software provider: not opened"
KEY_PROMPT = "the key is protected with a prompt (strong protection): not opened"
KEY_TIMEOUT = f"the key gave no answer within {KEY_TIMEOUT_S} s (a prompt or a card may be waiting): not used"
KEY_SHARED = "the key is kept: certificate {thumbprint} uses the same key"
KEY_GONE = "the key could not be opened (already gone)"
KEY_NOT_SOFTWARE_KEPT = "the key is kept: it is held by '{provider}', not a software provider"

# Windows' own messages, which the agent passes on and the lab reproduces.
WIN_BAD_PASSWORD = "The specified network password is not correct."
WIN_CANCELED = "The operation was canceled by the user."
WIN_ACCESS_DENIED = "Access is denied."
WIN_KEY_NOT_EXPORTABLE = "Key not valid for use in specified state."
WIN_NO_KEYSET = "Keyset does not exist"  # a certificate whose key container is gone (NTE_BAD_KEYSET)
WIN_FILE_IN_USE = "The process cannot access the file '{path}' because it is being used by another process."

# The HRESULT behind each: Windows' text is localized (Japanese Windows says
# 「指定されたネットワーク パスワードが間違っています。」), so callers compare codes, never text.
HR_INVALID_PASSWORD = "0x80070056"  # ERROR_INVALID_PASSWORD
HR_CANCELLED = "0x800704C7"  # ERROR_CANCELLED
HR_ACCESS_DENIED = "0x80070005"  # E_ACCESSDENIED
HR_BAD_KEY_STATE = "0x8009000B"  # NTE_BAD_KEY_STATE
WINDOWS_MESSAGES: dict[str, dict[str, str]] = {
    HR_INVALID_PASSWORD: {"en-US": WIN_BAD_PASSWORD, "ja-JP": "指定されたネットワーク パスワードが間違っています。"},
    HR_CANCELLED: {"en-US": WIN_CANCELED, "ja-JP": "操作はユーザーによって取り消されました。"},
    HR_ACCESS_DENIED: {"en-US": WIN_ACCESS_DENIED, "ja-JP": "アクセスが拒否されました。"},
    HR_BAD_KEY_STATE: {"en-US": WIN_KEY_NOT_EXPORTABLE, "ja-JP": "指定された状態で使用するには無効なキーです。"},
}


class Secret(str):
    """A secret argument value: the same text on the wire, but its ``repr`` is masked.

    ansible-core's ``ANSIBLE_DEBUG`` log prints every module's arguments with ``%s`` (so ``repr``
    of each value) whatever ``no_log`` says; a secret wrapped in this class shows as ``********``.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return "'********'"


class ContractError(ValueError):
    """A request or response does not follow the contract."""


def failure(verb: str, target: str, reason: str) -> str:
    """Return an error in the agreed shape: ``Failed to <verb> '<target>': <reason>``."""
    return f"Failed to {verb} '{target}': {reason}"


@dataclass
class Step:
    """One operation with its arguments."""

    op: str
    args: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        """Raise ContractError when the operation is unknown or an argument is missing."""
        if self.op not in OPERATIONS:
            raise ContractError(f"unknown agent operation {self.op!r}")
        missing = [name for name in OPERATIONS[self.op][0] if name not in self.args]
        if missing:
            raise ContractError(f"agent operation {self.op!r} lacks {', '.join(missing)}")
        store = self.args.get("store")
        if store is not None and store not in STORES:
            raise ContractError(f"agent operation {self.op!r}: unknown store {store!r}")

    @property
    def changes(self) -> bool:
        """Return True when this operation changes the PC."""
        return OPERATIONS[self.op][1]

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON shape sent to the agent."""
        return {"op": self.op, "args": self.args}


def build_request(steps: list[Step], *, check_mode: bool = False) -> dict[str, Any]:
    """Return the agent's module arguments for ``steps``; check mode refuses changing steps."""
    for step in steps:
        step.validate()
        if check_mode and step.changes:
            raise ContractError(f"agent operation {step.op!r} changes the PC and cannot run in check mode")
    return {"contract": CONTRACT_VERSION, "steps": [_masked(s.to_dict()) for s in steps]}


def _masked(step: dict[str, Any]) -> dict[str, Any]:
    """Return the step with every secret argument wrapped in :class:`Secret` (masked in debug logs)."""
    args = {k: Secret(v) if k in SECRET_ARGS and isinstance(v, str) else v for k, v in step["args"].items()}
    return {"op": step["op"], "args": args}


def _seal_key(password: str) -> bytes:
    return hashlib.sha256(password.encode("utf-8")).digest()


def seal(data: bytes, password: str) -> str:
    """Return ``data`` sealed as the agent seals an exported PFX: base64(IV || AES-256-CBC, PKCS#7).

    The key is SHA-256 of the request's one-time ``export_password`` (UTF-8), which never appears in
    a log; so the answer, which ansible-core's debug log prints whole, holds no readable PKCS#12.
    """
    iv = os.urandom(16)
    padder = padding.PKCS7(128).padder()
    padded = padder.update(data) + padder.finalize()
    encryptor = Cipher(algorithms.AES(_seal_key(password)), modes.CBC(iv)).encryptor()
    return b64(iv + encryptor.update(padded) + encryptor.finalize())


def unseal(text: str, password: str) -> bytes:
    """Open what :func:`seal` (or the agent) sealed; raise ContractError when it does not open.

    The seal has no MAC of its own: a wrong password fails the padding check 255 times in 256, and otherwise gives
    bytes that are no PKCS#12 (the PFX inside is always opened, and its own MAC checked, with the same password)."""
    try:
        raw = unb64(text)
        decryptor = Cipher(algorithms.AES(_seal_key(password)), modes.CBC(raw[:16])).decryptor()
        padded = decryptor.update(raw[16:]) + decryptor.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError as exc:
        raise ContractError(f"a sealed export does not open: {exc}") from exc


@dataclass
class StepResult:
    """The agent's report of one step."""

    op: str
    ok: bool
    result: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    hresult: str | None = None  # "0x80070056": Windows' code behind the (localized) error text


@dataclass
class Response:
    """The agent's answer to one request."""

    steps: list[StepResult]
    changed: bool
    failed: bool
    msg: str = ""
    language_mode: str | None = None  # set when PowerShell is not in FullLanguage mode (AppLocker/WDAC)

    def result_of(self, op: str, index: int = 0) -> dict[str, Any]:
        """Return the result of the ``index``-th successful step named ``op``."""
        matches = [s.result for s in self.steps if s.op == op and s.ok]
        if len(matches) <= index:
            raise ContractError(f"the agent's answer has no result for {op!r} #{index}")
        return matches[index]

    @property
    def error(self) -> str | None:
        """Return the first failing step's error, if any."""
        return next((s.error for s in self.steps if not s.ok), None)

    @property
    def hresult(self) -> str | None:
        """Return the HRESULT of the first failing step, when Windows gave one."""
        return next((s.hresult for s in self.steps if not s.ok), None)


def parse_response(data: dict[str, Any]) -> Response:
    """Return the Response in an agent's module result; raise ContractError when it is not one."""
    if not isinstance(data.get("steps"), list):
        raise ContractError(data.get("msg") or "the agent did not answer in the contract's shape")
    steps = [
        StepResult(s.get("op", "?"), bool(s.get("ok")), s.get("result") or {}, s.get("error"), s.get("hresult"))
        for s in data["steps"]
    ]
    return Response(
        steps,
        bool(data.get("changed")),
        bool(data.get("failed")),
        str(data.get("msg") or ""),
        data.get("language_mode"),
    )


def b64(data: bytes) -> str:
    """Return ``data`` as base64 text (the contract's encoding of bytes)."""
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    """Decode the contract's base64 text."""
    return base64.b64decode(text.encode("ascii"), validate=True)


#: What ansible-core's module wrapper (2.19+) says when AppLocker/WDAC keeps it from running the agent: an untrusted
#: module with module util imports in ConstrainedLanguage, or an untrusted module util (matched in its failure text).
WRAPPER_REFUSALS = ("in ConstrainedLanguage mode", "is not trusted and cannot be loaded")

#: The agent's PowerShell module util (``#AnsibleRequires -PowerShell ..module_utils.OnshiCertRequest``), which
#: ansible-core's exec wrapper loads before the agent: reading the request.
AGENT_UTIL = "OnshiCertRequest"


def agent_path() -> Path:
    """Return the agent's file: the collection's module ``plugins/modules/onshi_cert_agent.ps1``."""
    return collection_root() / "plugins" / "modules" / AGENT_FILE


def agent_script() -> bytes:
    """Return the exact bytes of the PowerShell agent Ansible sends (the collection's module file)."""
    return agent_path().read_bytes()


def agent_util_script() -> bytes:
    """Return the exact bytes of the agent's module util (``plugins/module_utils/OnshiCertRequest.psm1``)."""
    return (collection_root() / "plugins" / "module_utils" / f"{AGENT_UTIL}.psm1").read_bytes()
