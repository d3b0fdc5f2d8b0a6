"""Reading a ledger as vendors keep it: the sheet with the headings, its visible rows, its merged cells.

- The sheet is ``--sheet``, else the first sheet whose first 20 rows hold the required headings (a workbook may open
  on a cover or a change log); with none, the error names every sheet and ``--sheet``.
- Rows Excel hides (a retired PC hidden rather than deleted, or filtered out by an AutoFilter: Excel writes both as
  hidden) are left out unless ``include_hidden``, each named by its row number.
- A cell inside a merged range, but not its first, reads as empty in Excel's file; it is named as merged (its
  range) so the row's reason can say so.

CSV has none of these: every row is read as it is.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from onshi_cert.core import messages
from onshi_cert.core.errors import OnshiCertError
from onshi_cert.i18n import N_
from onshi_cert.i18n import say as _
from onshi_cert_tools.intake import decode_text

# Recognised headings of each column (compared after NFKC, lower case, without spaces): Japanese as vendors'
# ledgers write them, and English. ``--column HEADING=field`` adds more.
HEADINGS: dict[str, tuple[str, ...]] = {
    "facility_name": ("医療機関名", "施設名", "医療機関", "薬局名", "facilityname", "clinic", "clinicname"),
    "facility_code": ("医療機関等コード", "医療機関コード", "施設コード", "facilitycode", "code"),
    "host": ("端末名", "ホスト名", "pc名", "コンピューター名", "コンピュータ名", "host", "hostname", "pc"),
    "address": ("ip", "ipアドレス", "アドレス", "address", "ansible_host"),
    "port": ("ポート", "winrmポート", "port"),
    "scheme": ("方式", "プロトコル", "scheme", "protocol"),
    "site": ("拠点", "拠点名", "サイト", "site"),
    "admin_user": ("管理者", "管理者ユーザー", "管理者ユーザ", "ローカル管理者", "adminuser", "administrator"),
    "admin_password": ("管理者パスワード", "adminpassword", "administratorpassword"),
    "operator_user": ("運用ユーザー", "運用ユーザ", "操作ユーザー", "operatinguser", "operator"),
    "operator_password": ("運用ユーザーパスワード", "運用パスワード", "operatingpassword", "operatorpassword"),
    "listener_fingerprint": ("リスナー指紋", "指紋", "listenerfingerprint", "fingerprint"),
}
REQUIRED = ("facility_code", "host", "address")
LABELS = {
    "facility_name": N_("facility name"),
    "facility_code": N_("facility code"),
    "host": N_("PC name"),
    "address": N_("IP address"),
    "site": N_("site"),
}


class LedgerError(OnshiCertError):
    """The ledger cannot be read as a whole (not a row: those are reported with their number)."""


def key(text: Any) -> str:
    """Return a heading as it is compared: NFKC, no spaces, lower case."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(text or ""))).lower()


@dataclass
class Cells:
    """A ledger's rows as ``(row number, cells)``, the rows left out with why, and the merged cells."""

    rows: list[tuple[int, list[Any]]]
    notes: list[tuple[int, str]] = field(default_factory=list)
    merged: dict[tuple[int, int], str] = field(default_factory=dict)  # (row, column index) -> "B4:B6"


def find_columns(
    cells: list[tuple[int, list[Any]]], path: Path, extra: dict[str, str] | None = None
) -> tuple[int, dict[str, int]]:
    """Return the heading row's number and field -> column index; the heading is among the first 20 rows."""
    number, found = _best_heading(cells, extra)
    missing = [name for name in REQUIRED if name not in found]
    if missing:
        names = ", ".join(_(LABELS[m]) for m in missing)
        raise LedgerError(messages.LEDGER_MISSING_COLUMN, path=path, columns=names)
    return number, found


def _best_heading(cells: list[tuple[int, list[Any]]], extra: dict[str, str] | None) -> tuple[int, dict[str, int]]:
    known = {key(h): name for name, headings in HEADINGS.items() for h in headings}
    known |= {key(h): name for h, name in (extra or {}).items()}
    best: tuple[int, dict[str, int]] = (0, {})
    for number, row in cells[:20]:
        found: dict[str, int] = {}
        for index, cell in enumerate(row):
            name = known.get(key(cell))
            if name and name not in found:
                found[name] = index
        if len(found) > len(best[1]):
            best = (number, found)
    return best


def read_cells(
    path: Path, sheet: str | None = None, *, include_hidden: bool = False, extra: dict[str, str] | None = None
) -> Cells:
    """Return the ledger's rows: of ``sheet``, else of the sheet with the headings (.xlsx), or of a .csv."""
    try:
        if path.suffix.lower() in (".xlsx", ".xlsm"):
            return _workbook(path, sheet, include_hidden, extra)
        text = decode_text(path.read_bytes(), path)
    except (OSError, KeyError, ValueError) as exc:
        if isinstance(exc, OnshiCertError):
            raise
        raise LedgerError(messages.LEDGER_UNREADABLE, path=path, detail=exc) from None
    return Cells([(i, row) for i, row in enumerate(csv.reader(io.StringIO(text)), start=1)])


def _workbook(path: Path, sheet: str | None, include_hidden: bool, extra: dict[str, str] | None) -> Cells:
    from openpyxl import load_workbook

    book = load_workbook(path, data_only=True)  # not read-only: hidden rows and merged cells are needed
    if sheet is not None:
        if sheet not in book.sheetnames:
            raise LedgerError(messages.LEDGER_NO_SHEET, path=path, sheet=sheet, sheets=", ".join(book.sheetnames))
        chosen = book[sheet]
    else:
        chosen = next(
            (ws for ws in book.worksheets if set(REQUIRED) <= set(_best_heading(_rows(ws), extra)[1])),
            None,
        )
        if chosen is None:
            raise LedgerError(messages.LEDGER_NO_LEDGER_SHEET, path=path, sheets=", ".join(book.sheetnames))
    found = Cells([])
    for number, row in _rows(chosen):
        dimension = chosen.row_dimensions.get(number)
        if dimension is not None and dimension.hidden and not include_hidden:
            if any(str(c or "").strip() for c in row):
                note = _("hidden in Excel (retired or filtered out): not imported (--include-hidden imports it)")
                found.notes.append((number, note))
            continue
        found.rows.append((number, row))
    for merged in chosen.merged_cells.ranges:
        for row_number, column in merged.cells:
            if (row_number, column) != (merged.min_row, merged.min_col):
                found.merged[(row_number, column - 1)] = merged.coord
    return found


def _rows(ws: Any) -> list[tuple[int, list[Any]]]:
    return [(i, list(r)) for i, r in enumerate(ws.iter_rows(values_only=True), start=1)]
