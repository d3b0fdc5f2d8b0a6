"""PFX backups on the controller: re-encrypt, verify, write atomically, index, and choose one to restore.

Layout: ``<backup_dir>/<facility code>/<host>_<thumbprint>_<sha8>.pfx`` beside its manifest
``<same name>.json``, the host and the code written by :func:`onshi_cert.core.paths.path_component` (a name from
the inventory never leaves its folder). The PFX is written first and the manifest last (each by one atomic rename): a
backup exists only once its manifest does, and the manifest names the PFX and its SHA-256, so a cut
at any moment leaves either the whole backup or none. Names carry the content's hash, so a new
backup (another password, a re-export) never overwrites an older one.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Guarded: without cryptography the action plugins stop first and name it (requirements.py).
with contextlib.suppress(ImportError):
    from cryptography import x509

from ..i18n import say as _
from . import messages
from .certinfo import thumbprint, utcnow
from .errors import OnshiCertError, Pkcs12Error
from .paths import inside, path_component, warn_if_open, write_private
from .pkcs12 import Encryption, Pkcs12Bundle, certificates_of, load_pkcs12
from .reopen import reopen


class BackupError(OnshiCertError):
    """A backup could not be made, verified or written, or none can be restored."""


@dataclass
class Backup:
    """A complete backup (manifest and PFX present, hash matching) and what its manifest says."""

    path: Path
    thumbprint: str
    facility_code: str
    not_after: dt.datetime
    sha256: str
    encryption: str
    host: str
    created: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Return JSON-friendly data."""
        return {
            "path": str(self.path),
            "thumbprint": self.thumbprint,
            "facility_code": self.facility_code,
            "not_after": self.not_after.isoformat(),
            "sha256": self.sha256,
            "encryption": self.encryption,
            "host": self.host,
            "created": self.created,
        }


def backup_stem(host: str, thumb: str, digest: str) -> str:
    """Return the file name (without suffix) of a backup."""
    return f"{path_component(host)}_{thumb}_{digest[:8]}"


def backup_path(backup_dir: Path, facility_code: str, host: str, thumb: str, digest: str = "") -> Path:
    """Return where the backup of ``thumb`` from ``host`` goes (the digest makes each content's name unique)."""
    stem = backup_stem(host, thumb, digest) if digest else f"{path_component(host)}_{thumb}"
    return backup_dir / path_component(facility_code or "unknown") / f"{stem}.pfx"


def from_export(exported: bytes, one_time: str, chain: list[x509.Certificate]) -> Pkcs12Bundle:
    """Open what the PC exported (with its one-time password) and add the verified chain it lacks."""
    try:
        bundle = load_pkcs12(exported, one_time)
    except Pkcs12Error as exc:
        raise BackupError(messages.BACKUP_EXPORT_UNREADABLE, detail=exc) from exc
    known = {thumbprint(c) for c in bundle.chain}
    bundle.chain += [c for c in chain if thumbprint(c) not in known and c != bundle.leaf]
    return bundle


def verify(data: bytes, password: str, expected_thumbprint: str) -> Pkcs12Bundle:
    """Re-open a backup: the password works, the key matches, the thumbprint is the expected one."""
    try:
        bundle = load_pkcs12(data, password)
    except Pkcs12Error as exc:
        raise BackupError(messages.BACKUP_DOES_NOT_REOPEN, detail=exc) from exc
    if thumbprint(bundle.leaf) != expected_thumbprint.upper():
        raise BackupError(messages.BACKUP_WRONG_CERT, found=thumbprint(bundle.leaf), expected=expected_thumbprint)
    return bundle


def reverify(data: bytes, password: str, expected_thumbprint: str) -> bool:
    """Check a backup again, as :func:`verify` does, without cryptography's RSA primality tests when it can.

    The file was fully opened when it was written; what can change since is checked: today's password opens
    it (MAC and decryption), it holds the expected certificate, the key is that certificate's and consistent.
    Anything the fast path cannot tell is decided by the full :func:`verify`.
    """
    opened = reopen(data, password)
    if opened is None:
        try:
            verify(data, password, expected_thumbprint)
        except BackupError:
            return False
        return True
    key, certificates = opened
    leaves = certificates_of(key, certificates)
    return bool(leaves) and thumbprint(leaves[0]) == expected_thumbprint.upper()


def _atomic_write(path: Path, data: bytes) -> None:
    write_private(path, data)


def write(
    backup_dir: Path,
    host: str,
    facility_code: str,
    data: bytes,
    bundle: Pkcs12Bundle,
    encryption: Encryption,
    now: dt.datetime | None = None,
) -> Backup:
    """Write the PFX (0600), then its manifest: the backup exists once the manifest does."""
    thumb = thumbprint(bundle.leaf)
    digest = hashlib.sha256(data).hexdigest()
    path = backup_path(backup_dir, facility_code, host, thumb, digest)
    created = (now or utcnow()).isoformat()
    manifest = {
        "thumbprint": thumb,
        "facility_code": facility_code,
        "not_after": bundle.leaf.not_valid_after_utc.isoformat(),
        "sha256": digest,
        "pfx": path.name,
        "algorithm": encryption.value,
        "source_host": host,
        "created": created,
    }
    try:
        _atomic_write(path, data)
        _atomic_write(path.with_suffix(".json"), json.dumps(manifest, indent=2).encode())
    except OSError as exc:
        raise BackupError(messages.BACKUP_WRITE, path=path, reason=exc.strerror) from exc
    if not findable(backup_dir, path.with_suffix(".json"), host, thumb):
        raise BackupError(messages.BACKUP_NOT_FINDABLE, path=path, folder=backup_dir)
    return Backup(path, thumb, facility_code, bundle.leaf.not_valid_after_utc, digest, encryption.value, host, created)


def findable(root: Path, manifest: Path, host: str, thumb: str) -> bool:
    """Return True when a fresh listing of ``root`` finds ``manifest`` as the backup of ``thumb`` from ``host``: the
    check that comes before anything is removed on the strength of that backup."""
    folder = manifest.parent
    if folder.parent.resolve() != root.resolve() or not inside(root, manifest):
        return False
    with contextlib.suppress(OSError):
        if manifest.name in os.listdir(folder):
            listed = _listed(root, folder.name, manifest.name)
            loaded = _load(manifest)
            return (
                listed is not None
                and listed.host == path_component(host)
                and loaded is not None
                and loaded.thumbprint == thumb.upper()
                and loaded.host == host
            )
    return False


def _examine(manifest: Path) -> tuple[Backup | None, dt.datetime | None, str]:
    """Read a manifest and its PFX: the backup when the PFX is present and matches, else None with the expiry the
    manifest states (None when it cannot say) and why the backup cannot be used as written."""
    try:
        meta = json.loads(manifest.read_text(encoding="utf-8"))
        not_after = dt.datetime.fromisoformat(meta["not_after"])
    except (OSError, ValueError, KeyError, TypeError):
        return None, None, _("damaged: its manifest cannot be read")
    try:
        pfx = manifest.with_name(str(meta.get("pfx") or manifest.with_suffix(".pfx").name))
        data = pfx.read_bytes()
    except (OSError, ValueError, TypeError):
        return None, not_after, _("its .pfx file is missing")
    if hashlib.sha256(data).hexdigest() != meta.get("sha256"):
        why = _("damaged: the .pfx is not the file that was written (a bit flip, a truncation or a copy error)")
        return None, not_after, why
    try:
        backup = Backup(
            pfx,
            str(meta["thumbprint"]).upper(),
            str(meta.get("facility_code", "")),
            not_after,
            meta["sha256"],
            str(meta.get("algorithm", "")),
            str(meta.get("source_host", "")),
            str(meta.get("created", "")),
        )
    except (KeyError, TypeError):
        return None, not_after, _("damaged: its manifest cannot be read")
    return backup, not_after, ""


def _load(manifest: Path) -> Backup | None:
    """Return the backup a manifest describes when its PFX is present and matches, else None."""
    return _examine(manifest)[0]


@dataclass
class Listed:
    """A manifest as its name tells it (``<code>/<host>_<thumbprint>_<sha8>.json``), before it is read (its path
    is made only when it is: a fleet's listing has thousands of entries and a lookup needs a few)."""

    root: Path
    name: str
    facility_code: str
    host: str
    thumbprint: str

    @property
    def path(self) -> Path:
        return self.root / self.facility_code / self.name


def listing(root: Path, codes: Iterable[str] | None = None) -> dict[str, list[str]]:
    """Return each facility-code folder below ``root`` -> the manifest names in it (``*/*.json``); with ``codes``,
    only those codes' folders (a PC's task needs its own codes: a fleet's backup folder has one folder per code).

    A folder not listed can only make a lookup find no backup, which leads to backing up again, never to removing.
    """
    if codes is None:
        with os.scandir(root) as entries:
            folders = [e.name for e in entries if not e.name.startswith(".") and e.is_dir()]
    else:
        folders = sorted({path_component(code) for code in codes})
    found: dict[str, list[str]] = {}
    for name in folders:
        try:
            with os.scandir(root / name) as entries:
                found[name] = [e.name for e in entries if e.name.endswith(".json") and not e.name.startswith(".")]
        except (FileNotFoundError, NotADirectoryError):
            continue
    return found


LISTED_NAME = re.compile(r"^(?P<host>.+)_(?P<thumb>[0-9A-Fa-f]{40})(?:_[0-9a-f]{8})?$")


def _listed(root: Path, folder: str, name: str) -> Listed | None:
    """Read a manifest's name (``name``, a .json file in ``root/folder``): <host>_<thumbprint>_<sha8>.json (or
    <host>_<thumbprint>.json, as older versions wrote)."""
    match = LISTED_NAME.match(name.removesuffix(".json"))
    if match is None:
        return None
    return Listed(root, name, folder, match["host"], match["thumb"].upper())


def _host_names(host: str) -> tuple[set[str], tuple[str, ...]]:
    """Return the names a host's backups carry (:func:`path_component`'s, and the plain one versions before 0.2
    wrote) and the file-name prefixes they start with."""
    names = {host, path_component(host)}
    return names, tuple(f"{name}_" for name in names)


@dataclass
class BackupIndex:
    """The backups of a folder, listed once per task by name; a manifest (and its PFX, hashed) is read only
    when a lookup needs it, so a PC's task costs its own backups, not the fleet's. Password checks are cached.

    A manifest whose name does not say what it holds (renamed by hand) is only ever missed: the PC is then
    treated as having no backup of it, which leads to backing up again, never to removing anything.
    """

    root: Path | None
    #: (facility-code folder, manifest name) of every manifest, in order; a name is parsed only when a lookup's
    #: cheap test on the raw name lets it through (a fleet's folder has thousands, a lookup needs a few).
    names: list[tuple[str, str]] = field(default_factory=list)
    _loaded: dict[Path, Backup | None] = field(default_factory=dict, repr=False)
    _added: list[Backup] = field(default_factory=list, repr=False)
    _opens: dict[tuple[str, str], bool] = field(default_factory=dict, repr=False)

    @classmethod
    def scan(cls, root: Path | None, codes: Iterable[str] | None = None) -> BackupIndex:
        """List the manifests below ``root`` by name, of the facility codes ``codes`` only when given (none when
        ``root`` is not set or does not exist)."""
        if root is None or not root.is_dir():
            return cls(root)
        warn_if_open(root)
        found = listing(root, codes)
        return cls(root, [(folder, name) for folder, names in sorted(found.items()) for name in sorted(names)])

    @property
    def listing(self) -> list[Listed]:
        """Every manifest whose name says what it holds, parsed."""
        return self._listed(lambda folder, name: True)

    def _listed(self, maybe: Any) -> list[Listed]:
        """Parse the names that ``maybe(folder, name)`` lets through (a test that may let too many through)."""
        if self.root is None:
            return []
        root = self.root
        return [item for f, n in self.names if maybe(f, n) and (item := _listed(root, f, n)) is not None]

    def _loaded_backup(self, item: Listed) -> Backup | None:
        """Return the backup ``item`` names, read once per task (None: incomplete or damaged)."""
        if item.path not in self._loaded:
            self._loaded[item.path] = _load(item.path)
        return self._loaded[item.path]

    def _read(self, items: Iterable[Listed]) -> list[Backup]:
        return [backup for item in items if (backup := self._loaded_backup(item)) is not None]

    def _select(self, keep: Any, maybe: Any = lambda folder, name: True) -> list[Backup]:
        """Return the complete backups whose listing passes ``keep`` (read now), with those added this task;
        ``maybe(folder, name)`` is a cheap test on the raw name that may let more through, never fewer."""
        read = self._read(item for item in self._listed(maybe) if keep(item))
        seen = {b.path for b in read}
        return read + [
            b
            for b in self._added
            if keep(Listed(b.path.parent.parent, b.path.name, b.facility_code, b.host, b.thumbprint))
            and b.path not in seen
        ]

    @property
    def backups(self) -> list[Backup]:
        """Every complete backup (reads every manifest: for restore choices and audits that need them all)."""
        return self._select(lambda item: True)

    def of(self, thumb: str) -> list[Backup]:
        """Return the backups of one certificate, newest first."""
        wanted = thumb.upper()
        found = [
            b
            for b in self._select(lambda item: item.thumbprint == wanted, lambda f, n: wanted in n.upper())
            if b.thumbprint == wanted
        ]
        return sorted(found, key=lambda b: b.created, reverse=True)

    def of_host(self, host: str) -> list[Backup]:
        """Return the backups made from ``host`` (named by :func:`path_component`, or by its plain name as versions
        before 0.2 wrote it; the manifest's ``source_host`` decides)."""
        names, prefixes = _host_names(host)
        return [
            b
            for b in self._select(lambda item: item.host in names, lambda f, n: n.startswith(prefixes))
            if b.host == host
        ]

    def damaged(self, host: str | None = None, code: str | None = None) -> list[tuple[Listed, dt.datetime | None, str]]:
        """Return the manifests of ``host`` (or of facility code ``code``) whose backup cannot be used as written,
        each with the expiry its manifest states (None when unreadable) and why: a restore names each one."""
        names, prefixes = _host_names(host) if host is not None else (set(), ())
        folder = path_component(code) if code is not None else None
        items = self._listed(lambda f, n: (folder is None or f == folder) and (not names or n.startswith(prefixes)))
        return [
            (item, *_examine(item.path)[1:])
            for item in items
            if (not names or item.host in names)
            and (folder is None or item.facility_code == folder)
            and self._loaded_backup(item) is None
        ]

    def of_code(self, code: str) -> list[Backup]:
        """Return the backups of one facility code."""
        folder = path_component(code)
        return [
            b
            for b in self._select(lambda item: item.facility_code == folder, lambda f, n: f == folder)
            if b.facility_code == code
        ]

    def thumbprints_of(self, host: str) -> list[str]:
        """Return the thumbprints backed up from ``host``."""
        return sorted({b.thumbprint for b in self.of_host(host)})

    def opens(self, backup: Backup, password: str) -> bool:
        """Return True when ``password`` opens ``backup`` and it holds its certificate (cached)."""
        key = (str(backup.path), hashlib.sha256(password.encode()).hexdigest())
        if key not in self._opens:
            try:
                self._opens[key] = reverify(backup.path.read_bytes(), password, backup.thumbprint)
            except OSError:
                self._opens[key] = False
        return self._opens[key]

    def verified(self, thumb: str, password: str | None) -> Backup | None:
        """Return a backup of ``thumb`` that opens with ``password`` (the current one), or None."""
        if not password:
            return None
        return next((b for b in self.of(thumb) if self.opens(b, password)), None)

    def verified_map(self, thumbs: Iterable[str], password: str | None) -> dict[str, bool]:
        """Return thumbprint -> whether a verified backup exists with ``password``."""
        return {t: self.verified(t, password) is not None for t in thumbs}

    def add(self, backup: Backup, password: str) -> None:
        """Record a backup just written (and verified with ``password``)."""
        self._added.append(backup)
        self._opens[(str(backup.path), hashlib.sha256(password.encode()).hexdigest())] = True


@dataclass
class RestoreChoice:
    """The backup chosen for one facility code, and why each newer one was passed over."""

    facility_code: str
    backup: Backup
    bundle: Pkcs12Bundle = field(repr=False)
    passed_over: list[str] = field(default_factory=list)


def choose_restore(
    index: BackupIndex,
    restore_from: str,
    codes: Iterable[str],
    password: str,
    accept: Any,
    now: dt.datetime | None = None,
) -> tuple[list[RestoreChoice], list[str]]:
    """Choose, per code, the newest backup of ``restore_from`` that opens, verifies and is valid.

    ``restore_from`` is the old PC's inventory name or a facility code; by code only when the
    backups of that code come from one PC (else the candidates are listed and nothing is chosen).
    ``accept(bundle, backup)`` returns None for a good backup or the reason it is not (trust,
    facility code). Returns the choices and, for codes with no good backup, what was found.
    """
    now = now or utcnow()
    by_code = restore_from.isdigit() and len(restore_from) == 10
    if by_code:
        pool = index.of_code(restore_from)
        sources = sorted({b.host for b in pool})
        if len({b.thumbprint for b in pool}) > 1 and len(sources) > 1:
            raise BackupError(
                messages.BACKUP_AMBIGUOUS, code=restore_from, count=len(sources), hosts=", ".join(sources)
            )
    else:
        pool = index.of_host(restore_from)
    damaged = index.damaged(code=restore_from) if by_code else index.damaged(host=restore_from)
    choices: list[RestoreChoice] = []
    missing: list[str] = []
    for code in codes:
        candidates = sorted(
            (b for b in pool if b.facility_code == code), key=lambda b: (b.not_after, b.created), reverse=True
        )
        passed: list[str] = []
        chosen = None
        for backup in candidates:
            why = _restore_problem(index, backup, password, accept, now)
            if why is None:
                chosen = backup
                break
            passed.append(f"{backup.path.name}: {why}")
        passed += [
            f"{item.name.removesuffix('.json')}.pfx: {why}"
            for item, not_after, why in damaged
            if item.facility_code == path_component(code)
            and (chosen is None or not_after is None or not_after >= chosen.not_after)
        ]
        if chosen is None:
            missing.append(f"{code} ({'; '.join(passed) if passed else _('no backup')})")
            continue
        bundle = load_pkcs12(chosen.path.read_bytes(), password)
        choices.append(RestoreChoice(code, chosen, bundle, passed))
    return choices, missing


def _restore_problem(index: BackupIndex, backup: Backup, password: str, accept: Any, now: dt.datetime) -> str | None:
    if not index.opens(backup, password):
        return _("does not open with the current backup password (damaged, or another password)")
    if now >= backup.not_after:
        return _(
            "expired on {date}: only a new certificate helps (1,500 yen + 753 yen postage)",
            date=f"{backup.not_after:%Y-%m-%d}",
        )
    bundle = load_pkcs12(backup.path.read_bytes(), password)
    return accept(bundle, backup)
