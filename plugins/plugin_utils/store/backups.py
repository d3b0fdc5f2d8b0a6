"""Backups that outlive the job: with a PostgreSQL record, every backup's PFX and manifest are kept in the record
too, as the files they are in the backup folder, so a job on another execution node (an AWX slice) restores them.

:func:`keep` adds the files a job wrote (never replacing one: names carry the content's hash); :func:`fetch` writes
into a backup folder the files it lacks, each PFX before its manifest (a backup exists once its manifest does).
Nothing else changes: a fetched backup is listed, hashed and opened by the same rules as any other
(:mod:`..core.backup`), so a damaged or altered row is refused there as a damaged file is.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Iterable
from pathlib import Path

# Guarded: without SQLAlchemy the action plugins stop first and name it (requirements.py).
with contextlib.suppress(ImportError):
    from sqlalchemy import select
    from sqlalchemy.dialects import postgresql, sqlite

from ..core.certinfo import utcnow
from ..core.paths import inside, private_dir, write_private
from . import connect, schema
from .record import Store

#: ``<facility code>/<file>``: one folder, one file, neither hidden, a PFX or its manifest.
_NAME = re.compile(r"^[0-9A-Za-z%_.~-]+/[0-9A-Za-z%_.~-]+\.(pfx|json)$")


def shared(store: Store) -> bool:
    """Return whether ``store`` keeps backups (PostgreSQL: reached from every node; SQLite sits beside them)."""
    return store.url.get_backend_name() == "postgresql"


def keep(store: Store, pfx_files: Iterable[str | Path]) -> int:
    """Add each backup (its PFX and the manifest beside it) the record lacks; return how many files were added."""
    rows = []
    for pfx in map(Path, pfx_files):
        for path in (pfx, pfx.with_suffix(".json")):
            name = f"{path.parent.name}/{path.name}"
            if not _NAME.match(name) or name.startswith(".") or "/." in name:
                continue
            data = path.read_bytes()
            rows.append({"name": name, "sha256": hashlib.sha256(data).hexdigest(), "data": data, "added_at": utcnow()})
    if not rows:
        return 0
    dialect = postgresql if store.engine.dialect.name == "postgresql" else sqlite
    added = 0
    with connect.errors(store.url), store.engine.begin() as connection:
        for row in rows:  # two slices may keep one file: the first wins, the second adds nothing
            statement = (
                dialect.insert(schema.backup_files)
                .values(row)
                .on_conflict_do_nothing(index_elements=["name"])
                .returning(schema.backup_files.c.id)
            )
            added += len(connection.execute(statement).all())
    return added


def fetch(store: Store, backup_dir: Path) -> int:
    """Write into ``backup_dir`` every kept file it lacks (0600 in 0700 folders); return how many were written."""
    b = schema.backup_files
    with connect.errors(store.url), store.engine.begin() as connection:
        names = [n for n in connection.execute(select(b.c.name)).scalars() if _NAME.match(n)]
        missing = [n for n in names if not (backup_dir / n).exists()]
        # Each PFX before its manifest: a backup is complete once its manifest exists.
        missing.sort(key=lambda n: (n.rsplit(".", 1)[0], n.endswith(".json")))
        written = 0
        for start in range(0, len(missing), 200):
            chunk = missing[start : start + 200]
            found = {r.name: r for r in connection.execute(select(b).where(b.c.name.in_(chunk)))}
            for name in chunk:
                row = found[name]
                target = backup_dir / name
                if not inside(backup_dir, target) or hashlib.sha256(row.data).hexdigest() != row.sha256:
                    continue
                private_dir(target.parent)
                write_private(target, bytes(row.data))
                written += 1
    return written


def export(store: Store, folder: Path) -> int:
    """Write every kept backup into ``folder`` (the usual files, for on-site work); return how many files."""
    private_dir(folder)
    return fetch(store, folder)
