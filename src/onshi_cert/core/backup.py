"""PFX backups on the controller: re-encrypt, verify, write atomically with a JSON sidecar, find them."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509

from onshi_cert.core.certinfo import thumbprint, utcnow
from onshi_cert.core.errors import OnshiCertError, Pkcs12Error
from onshi_cert.core.pkcs12 import Encryption, Pkcs12Bundle, load_pkcs12


class BackupError(OnshiCertError):
    """A backup could not be made, verified or written."""

    fix = "check the backup folder (writable, enough space) and the backup password in the vault"


@dataclass
class Backup:
    """A verified backup file and what its sidecar says."""

    path: Path
    thumbprint: str
    facility_code: str
    not_after: dt.datetime
    sha256: str
    encryption: str
    host: str

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
        }


def backup_path(backup_dir: Path, facility_code: str, host: str, thumb: str) -> Path:
    """Return where the backup of ``thumb`` from ``host`` lives: ``<dir>/<code>/<host>_<thumb>.pfx``."""
    return backup_dir / (facility_code or "unknown") / f"{host}_{thumb}.pfx"


def rebuild(
    exported: bytes, one_time: str, chain: list[x509.Certificate], password: str, encryption: Encryption
) -> tuple[bytes, Pkcs12Bundle]:
    """Open what the PC exported, add the chain, re-encrypt with ``password``; return bytes and bundle."""
    try:
        bundle = load_pkcs12(exported, one_time)
    except Pkcs12Error as exc:
        raise BackupError(f"the PC's export cannot be opened: {exc}") from exc
    known = {thumbprint(c) for c in bundle.chain}
    bundle.chain += [c for c in chain if thumbprint(c) not in known and c != bundle.leaf]
    return bundle.to_bytes(password, encryption), bundle


def verify(data: bytes, password: str, expected_thumbprint: str, *, need_chain: bool = True) -> Pkcs12Bundle:
    """Re-open a backup: the password works, the key matches, the chain is complete, the thumbprint is right."""
    try:
        bundle = load_pkcs12(data, password)
    except Pkcs12Error as exc:
        raise BackupError(f"the backup does not re-open: {exc}") from exc
    if thumbprint(bundle.leaf) != expected_thumbprint.upper():
        raise BackupError(f"the backup holds {thumbprint(bundle.leaf)}, not {expected_thumbprint}")
    if need_chain and bundle.issuer_verified() is not True:
        raise BackupError("the backup's chain does not reach the certificate's issuer")
    return bundle


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, 0o600)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def write(
    backup_dir: Path,
    host: str,
    facility_code: str,
    data: bytes,
    bundle: Pkcs12Bundle,
    encryption: Encryption,
    now: dt.datetime | None = None,
) -> Backup:
    """Write the PFX (0600) and then its sidecar, each atomically; the sidecar marks it complete."""
    thumb = thumbprint(bundle.leaf)
    path = backup_path(backup_dir, facility_code, host, thumb)
    digest = hashlib.sha256(data).hexdigest()
    sidecar = {
        "thumbprint": thumb,
        "facility_code": facility_code,
        "not_after": bundle.leaf.not_valid_after_utc.isoformat(),
        "sha256": digest,
        "algorithm": encryption.value,
        "source_host": host,
        "created": (now or utcnow()).isoformat(),
    }
    try:
        _atomic_write(path, data)
        _atomic_write(path.with_suffix(".json"), json.dumps(sidecar, indent=2).encode())
    except OSError as exc:
        raise BackupError(f"cannot write {path}: {exc.strerror}") from exc
    return Backup(path, thumb, facility_code, bundle.leaf.not_valid_after_utc, digest, encryption.value, host)


def find(backup_dir: Path, thumb: str, password: str | None = None) -> Backup | None:
    """Return a complete backup of ``thumb`` (sidecar present, hash matches; re-opened when a password is given)."""
    for sidecar in sorted(backup_dir.glob(f"*/*_{thumb.upper()}.json")):
        try:
            meta = json.loads(sidecar.read_text(encoding="utf-8"))
            data = sidecar.with_suffix(".pfx").read_bytes()
        except (OSError, ValueError):
            continue
        if hashlib.sha256(data).hexdigest() != meta.get("sha256"):
            continue
        if password is not None:
            try:
                verify(data, password, thumb, need_chain=False)
            except BackupError:
                continue
        return Backup(
            sidecar.with_suffix(".pfx"),
            meta["thumbprint"],
            meta.get("facility_code", ""),
            dt.datetime.fromisoformat(meta["not_after"]),
            meta["sha256"],
            meta.get("algorithm", ""),
            meta.get("source_host", ""),
        )
    return None


def latest_for(backup_dir: Path, *, host: str | None = None, facility_code: str | None = None) -> list[Backup]:
    """Return complete backups for a host or facility code, newest expiry first."""
    found = []
    pattern = f"{facility_code or '*'}/{host or '*'}_*.json"
    for sidecar in backup_dir.glob(pattern):
        thumb = sidecar.stem.rsplit("_", 1)[-1]
        backup = find(backup_dir, thumb)
        if backup and (host is None or backup.host == host):
            found.append(backup)
    return sorted(found, key=lambda b: b.not_after, reverse=True)
