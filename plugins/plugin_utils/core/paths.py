"""Names from outside as file names, and the data folder's privacy: the one rule for both.

Host names, clinic names, facility codes and file names come from inventories, ledgers and certificates: hostile
input. :func:`path_component` turns any of them into one file-name component that cannot leave its folder, cannot
be a Windows device name, and never gives two different names the same component. :func:`private_dir` creates a
folder of the data folder 0700 and notes, once per folder, when an existing one is open to others; :func:`write_private`
writes a file 0600, whole or not at all. The notes wait in :func:`take_warnings` for the task's result.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import tempfile
from pathlib import Path

from ..i18n import say as _
from . import messages
from .errors import OnshiCertError

#: Bytes kept as they are; every other byte (and '%' itself) becomes %XX, so the encoding is one-to-one.
_PLAIN = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
#: Names Windows reserves for devices in every folder, with or without an extension (a USB stick, a share).
_RESERVED = frozenset(["CON", "PRN", "AUX", "NUL"] + [f"COM{n}" for n in range(10)] + [f"LPT{n}" for n in range(10)])
#: Longest component returned: a backup's file name adds 55 characters to a host's, and file systems stop at 255.
MAX_COMPONENT = 120
_HASHED_PREFIX = 96


def path_component(name: str) -> str:
    """Return ``name`` as one safe file-name component, unchanged when it is plain ASCII (``pc01``, ``0110113719``).

    Any byte but ``A-Z a-z 0-9 - _ .`` (UTF-8; a name that is not valid UTF-8 keeps its raw bytes) is written
    ``%XX``, and so are a leading dot, a trailing dot and the first letter of a Windows device name: ``..``,
    ``/``, ``\\``, NUL, ``CON`` or ``受付/2F`` can never name another folder or a device. A name that would be longer
    than :data:`MAX_COMPONENT` keeps its beginning and ends in ``~`` and a hash of the whole name (``~`` is
    otherwise always encoded, so no short name can take it). The empty name is ``%``.
    """
    raw = name.encode("utf-8", "surrogateescape")
    if not raw:
        return "%"
    out = [chr(b) if b in _PLAIN else f"%{b:02X}" for b in raw]
    if out[0] == ".":
        out[0] = "%2E"
    if out[-1] == ".":
        out[-1] = "%2E"
    if "".join(out).split(".", 1)[0].upper() in _RESERVED:
        out[0] = f"%{ord(out[0]):02X}"
    encoded = "".join(out)
    if len(encoded) > MAX_COMPONENT:
        encoded = f"{encoded[:_HASHED_PREFIX]}~{hashlib.sha256(raw).hexdigest()[:16]}"
    return encoded


def inside(folder: Path, path: Path) -> bool:
    """Return True when ``path`` is ``folder`` itself or below it once both are resolved (links followed)."""
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


_warned: set[str] = set()
_warnings: list[str] = []


def take_warnings() -> list[str]:
    """Return the warnings noted since the last call (the action plugins add them to the task's result)."""
    taken = list(_warnings)
    _warnings.clear()
    return taken


def private_dir(path: Path) -> None:
    """Create ``path`` (and missing parents) readable by its owner only (0700); note a warning when it already
    exists open to other users, once per folder in this process (Ansible's display also says a text once)."""
    missing = []
    here = path
    while not here.exists():
        missing.append(here)
        if here.parent == here:
            break
        here = here.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:
            continue
        os.chmod(folder, 0o700)  # mkdir's mode passes through the umask
    if missing:
        return
    if not path.is_dir():  # as mkdir says it
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(path))
    warn_if_open(path)


def warn_if_open(path: Path) -> None:
    """Note a warning when the existing folder ``path`` is open to other users, once per folder in this process."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return
    key = str(path.resolve())
    if mode & 0o077 and key not in _warned:
        _warned.add(key)
        _warnings.append(
            _(
                "{folder} can be read by other users of this computer (mode {mode}): it holds clinic names, "
                "facility codes and encrypted private keys; run chmod -R go-rwx {folder}",
                folder=path,
                mode=f"{mode:o}",
            )
        )


def write_private(path: Path, data: bytes, *, sync: bool = True) -> None:
    """Write ``data`` to ``path`` readable by its owner only (0600), in a private folder, by one atomic rename: a
    cut leaves the old file or the new one, never a part (``sync``: on disk before the rename)."""
    private_dir(path.parent)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            if sync:
                handle.flush()
                os.fsync(handle.fileno())
        os.chmod(temp, 0o600)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def job_folder(environ: dict[str, str] | None = None) -> Path | None:
    """Return the folder AWX or ansible-runner made for this job (deleted when the job ends), or None.

    ansible-runner sets ``AWX_ISOLATED_DATA_DIR`` to ``<private data dir>/artifacts/<job>`` (in an execution
    environment ``/runner/artifacts/<job>``; older releases: the private data dir itself); AWX names that folder
    ``AWX_PRIVATE_DATA_DIR`` on its nodes.
    """
    env = os.environ if environ is None else environ
    if env.get("AWX_PRIVATE_DATA_DIR"):
        return Path(env["AWX_PRIVATE_DATA_DIR"])
    artifacts = env.get("AWX_ISOLATED_DATA_DIR")
    if not artifacts:
        return None
    path = Path(artifacts)
    return path.parent.parent if path.parent.name == "artifacts" else path


def outside_job_folder(path: Path | str, environ: dict[str, str] | None = None) -> Path:
    """Return ``path`` when it outlives the job; raise ONSHI-E156 when it lies in AWX's or ansible-runner's job
    folder (a project copy, ``/runner``: backups, reports and the record would vanish when the job ends)."""
    folder = job_folder(environ)
    target = Path(path)
    if folder is not None and (inside(folder, target) or str(target).startswith(str(folder).rstrip("/") + "/")):
        raise OnshiCertError(messages.EPHEMERAL_FOLDER, path=target, job_folder=folder)
    return target
