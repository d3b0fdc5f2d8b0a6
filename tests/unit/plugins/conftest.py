"""The collection's own unit tests: run by `ansible-test units` on the installed collection, and by the
developers' pytest from the checkout (which is the collection, linked as .collections/)."""

from __future__ import annotations

import sys
from pathlib import Path


def _collection_loader() -> None:
    """Make ansible_collections.onshi.cert importable as Ansible does, unless ansible-test already has."""
    from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder

    if any(type(finder).__name__ == "_AnsibleCollectionFinder" for finder in sys.meta_path):
        return
    checkout = Path(__file__).resolve().parents[3] / ".collections"
    _AnsibleCollectionFinder(paths=[str(checkout)])._install()


_collection_loader()
