"""Fleet import: the ledger's rows are checked one by one, and the inventory is written only from good ones."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
import yaml
from ansible.parsing.vault import VaultLib, VaultSecret

from onshi_cert_tools import ledger
from onshi_cert_tools.cli import main

HEAD = [
    "拠点",
    "医療機関名",
    "医療機関等コード",
    "端末名",
    "IP",
    "ポート",
    "管理者",
    "管理者パスワード",
    "運用ユーザーパスワード",
]
GOOD = [
    [
        "札幌北",
        "札幌内科クリニック",
        "0110113719",
        "sapporo-naika-pc01",
        "192.0.2.11",
        "5985",
        "Administrator",
        "A-1",
        "O-1",
    ],
    [
        "札幌北",
        "札幌内科クリニック",
        "0110113719",
        "sapporo-naika-pc02",
        "192.0.2.12",
        "",
        "Administrator",
        "A-2",
        "O-2",
    ],
    ["東京", "東京クリニック", "1310512346", "tokyo-clinic-pc01", "192.0.2.21", "5986", "Administrator", "A-3", ""],
]


def write_csv(path: Path, rows: list[list[str]], encoding: str = "utf-8-sig") -> Path:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    path.write_bytes(out.getvalue().encode(encoding))
    return path


@pytest.fixture
def vault_file(tmp_path: Path) -> Path:
    path = tmp_path / "vault-pass"
    path.write_text("fleet-secret\n")
    return path


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def decrypt(path: Path) -> dict:
    secret = VaultSecret(b"fleet-secret")
    return yaml.safe_load(VaultLib([("default", secret)]).decrypt(path.read_bytes()))


def test_a_shift_jis_csv_becomes_sites_hosts_and_vaulted_credentials(tmp_path, vault_file, capsys) -> None:
    """A CP932 CSV as Excel saves it: one group per site, codes quoted, credentials only in the vault."""
    source = write_csv(tmp_path / "台帳.csv", [HEAD, *GOOD], "cp932")
    out = tmp_path / "inv"
    code, stdout, err = run(
        capsys, "fleet", "import", str(source), "--out", str(out), "--vault-password-file", str(vault_file),
        "--trust-anchor", "AB" * 32, "--lang", "en",
    )  # fmt: skip
    assert code == 0, err
    assert "add sapporo-naika-pc01" in stdout
    text = (out / "hosts.yml").read_text(encoding="utf-8")
    assert '- "0110113719"' in text  # quoted: the 0 stays
    assert "A-1" not in text and "O-1" not in text
    groups = yaml.safe_load(text)["all"]["children"]["oqs_pcs"]["children"]
    assert set(groups) == {"札幌北", "東京"}
    pc = groups["東京"]["hosts"]["tokyo-clinic-pc01"]
    assert pc["ansible_port"] == 5986 and pc["ansible_winrm_scheme"] == "https"
    assert pc["onshi_cert_facility_name"] == "東京クリニック" and pc["onshi_cert_site"] == "東京"
    assert "ansible_become_password" not in pc  # no operating password in the ledger for this PC
    secrets = decrypt(out / "group_vars/all/vault.yml")["vault_onshi_cert_hosts"]
    assert secrets["sapporo-naika-pc01"] == {
        "admin_user": "Administrator",
        "admin_password": "A-1",
        "operator_password": "O-1",
    }
    assert (out / "group_vars/all/vault.yml").stat().st_mode & 0o777 == 0o600
    assert "AB" * 32 in (out / "group_vars/all/main.yml").read_text()


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (["札幌北", "X", "0110113718", "pc-a", "192.0.2.31", "", "", "", ""], "check digit 8 is wrong"),
        (["札幌北", "X", "110113719", "pc-a", "192.0.2.31", "", "", "", ""], "lost its leading 0"),
        (["札幌北", "X", "0110113719", "sapporo-naika-pc01", "192.0.2.31", "", "", "", ""], "also on row 2"),
        (["札幌北", "X", "1310512346", "pc-a", "192.0.2.11", "5985", "", "", ""], "IP address 192.0.2.11 is also"),
        (["札幌北", "別のクリニック", "0110113719", "pc-a", "192.0.2.31", "", "", "", ""], "is on two clinics"),
        (["札幌北", "X", "0110113719", "pc a", "192.0.2.31", "", "", "", ""], "not usable as an inventory name"),
        (["札幌北", "X", "", "pc-a", "192.0.2.31", "", "", "", ""], "no facility code"),
        (["札幌北", "X", "0110113719", "pc-a", "192.0.2.31", "http", "", "", ""], "not a number"),
    ],
)
def test_a_bad_row_is_named_with_its_number_and_nothing_is_written(tmp_path, vault_file, capsys, row, reason) -> None:
    """Each kind of bad row: its spreadsheet row number and why; no file is written, exit 1."""
    source = write_csv(tmp_path / "ledger.csv", [HEAD, GOOD[0], row])
    out = tmp_path / "inv"
    code, stdout, err = run(
        capsys, "fleet", "import", str(source), "--out", str(out), "--vault-password-file", str(vault_file),
        "--lang", "en",
    )  # fmt: skip
    assert code == 1
    assert stdout.startswith("row 3: ") and reason in stdout, stdout
    assert "[ONSHI-E112]" in err and "--skip-bad-rows" in err
    assert not out.exists()


def test_skip_bad_rows_writes_the_good_ones(tmp_path, vault_file, capsys) -> None:
    """--skip-bad-rows imports the good rows and still lists the bad ones."""
    bad = ["札幌北", "X", "0110113718", "pc-bad", "192.0.2.31", "", "", "", ""]
    source = write_csv(tmp_path / "ledger.csv", [HEAD, *GOOD, bad])
    out = tmp_path / "inv"
    code, stdout, _ = run(
        capsys, "fleet", "import", str(source), "--out", str(out), "--vault-password-file", str(vault_file),
        "--skip-bad-rows", "--lang", "en",
    )  # fmt: skip
    assert code == 0 and "row 5: " in stdout
    assert "pc-bad" not in (out / "hosts.yml").read_text()


def test_an_xlsx_number_cell_that_lost_its_zero_is_refused(tmp_path, vault_file, capsys) -> None:
    """Excel turned 0110113719 into the number 110113719: the row is refused with the fix (format as text)."""
    from openpyxl import Workbook

    book = Workbook()
    book.active.append(HEAD)
    book.active.append(["札幌北", "X", 110113719, "pc-a", "192.0.2.31", 5985, "Administrator", 1234, 5678])
    book.active.append(["東京", "Y", "1310512346", "pc-b", "192.0.2.32", 5985, "Administrator", 1234.0, "p"])
    source = tmp_path / "ledger.xlsx"
    book.save(source)
    parsed = ledger.parse(ledger.read_cells(source), source)
    assert [number for number, _ in parsed.bad] == [2] and "format the column as text" in parsed.bad[0][1]
    (good,) = parsed.rows
    assert good.port == 5985 and good.secrets["admin_password"] == "1234"  # not 1234.0


def test_a_reimport_merges_and_never_drops_hosts_or_secrets(tmp_path, vault_file, capsys) -> None:
    """Re-import: a host gone from the ledger is kept (and said), a blank password keeps the stored one,
    a changed address is reported; --check shows it all and writes nothing."""
    first = write_csv(tmp_path / "a.csv", [HEAD, *GOOD])
    out = tmp_path / "inv"
    args = ["--out", str(out), "--vault-password-file", str(vault_file), "--lang", "en"]
    assert run(capsys, "fleet", "import", str(first), *args)[0] == 0
    moved = list(GOOD[0])
    moved[4], moved[7], moved[8] = "192.0.2.99", "", "O-new"
    second = write_csv(tmp_path / "b.csv", [HEAD, moved, GOOD[2]])
    before = (out / "hosts.yml").read_bytes(), (out / "group_vars/all/vault.yml").read_bytes()
    code, stdout, _ = run(capsys, "fleet", "import", str(second), *args, "--check")
    assert code == 0
    assert "change sapporo-naika-pc01: ansible_host" in stdout
    assert "keep sapporo-naika-pc02 (not in the ledger: never dropped)" in stdout
    assert "new credentials for sapporo-naika-pc01" in stdout and "(check: nothing written)" in stdout
    assert ((out / "hosts.yml").read_bytes(), (out / "group_vars/all/vault.yml").read_bytes()) == before
    assert run(capsys, "fleet", "import", str(second), *args)[0] == 0
    hosts = yaml.safe_load((out / "hosts.yml").read_text())["all"]["children"]["oqs_pcs"]["children"]["札幌北"]["hosts"]
    assert (
        set(hosts) == {"sapporo-naika-pc01", "sapporo-naika-pc02"}
        and hosts["sapporo-naika-pc01"]["ansible_host"] == "192.0.2.99"
    )
    secrets = decrypt(out / "group_vars/all/vault.yml")["vault_onshi_cert_hosts"]
    assert secrets["sapporo-naika-pc01"]["admin_password"] == "A-1"  # blank in the ledger: kept
    assert secrets["sapporo-naika-pc01"]["operator_password"] == "O-new"
    assert secrets["sapporo-naika-pc02"]["admin_password"] == "A-2"
    assert run(capsys, "fleet", "import", str(second), *args)[1].strip().endswith("nothing changed")


def test_a_missing_column_and_a_wrong_vault_password_are_clear_errors(tmp_path, vault_file, capsys) -> None:
    """No IP column: ONSHI-E111 naming it; a different vault password on re-import: ONSHI-E114."""
    source = write_csv(tmp_path / "ledger.csv", [[h for h in HEAD if h != "IP"], GOOD[0][:4] + GOOD[0][5:]])
    code, _, err = run(capsys, "fleet", "import", str(source), "--out", str(tmp_path / "x"), "--lang", "en")
    assert code == 2 and "[ONSHI-E111]" in err and "IP address" in err
    good = write_csv(tmp_path / "good.csv", [HEAD, *GOOD])
    out = tmp_path / "inv"
    assert (
        run(capsys, "fleet", "import", str(good), "--out", str(out), "--vault-password-file", str(vault_file))[0] == 0
    )
    other = tmp_path / "other-pass"
    other.write_text("not-it\n")
    code, _, err = run(capsys, "fleet", "import", str(good), "--out", str(out), "--vault-password-file", str(other))
    assert code == 2 and "[ONSHI-E114]" in err


def test_own_headings_are_read_with_column(tmp_path, vault_file, capsys) -> None:
    """A ledger with its own heading for the PC name is read with --column 'HEADING=host'."""
    head = ["医療機関等コード", "機器名", "IP"]
    source = write_csv(tmp_path / "ledger.csv", [["端末台帳 2026年度"], [], head, ["0110113719", "pc-x", "192.0.2.5"]])
    out = tmp_path / "inv"
    args = ["fleet", "import", str(source), "--out", str(out), "--vault-password-file", str(vault_file)]
    assert run(capsys, *args)[0] == 2
    assert run(capsys, *args, "--column", "機器名=host")[0] == 0
    assert "pc-x" in (out / "hosts.yml").read_text()


def test_the_template_ledger_is_read_by_the_import(tmp_path) -> None:
    """The shipped template's headings are the import's; its example row is refused by its row number (a
    template imported as it is would add a PC that does not exist)."""
    path = tmp_path / "台帳.xlsx"
    ledger.template(path)
    parsed = ledger.parse(ledger.read_cells(path), path)
    assert parsed.rows == [] and [n for n, _ in parsed.bad] == [2] and "example row" in parsed.bad[0][1]
    shipped = Path(__file__).resolve().parents[2] / "docs" / "ledger-template.xlsx"
    assert ledger.read_cells(shipped).rows[:2] == ledger.read_cells(path).rows[:2]


def test_ledgers_as_vendors_keep_them(tmp_path) -> None:
    """A cover sheet first, a hidden retired PC, a row filtered out, a merged site and code, a footer (以上 計3台):
    the sheet is found by its headings; hidden rows are left out (named) unless asked; the merged cells are named;
    the footer is skipped with a note."""
    from openpyxl import Workbook

    book = Workbook()
    book.active.title = "表紙"
    book.active.append(["端末台帳", "2026年12月"])
    ws = book.create_sheet("台帳")
    ws.append(HEAD)
    ws.append(["札幌北", "A", "0110113719", "pc-a", "192.0.2.41", 5985, "Administrator", "p1", "p2"])
    ws.append(["札幌北", "B", "1310512346", "pc-old", "192.0.2.42", 5985, "Administrator", "p1", "p2"])
    ws.append(["東京", "C", "1310512346", "pc-c", "192.0.2.43", 5985, "Administrator", "p1", "p2"])
    ws.append(["東京", "C", None, "pc-d", "192.0.2.44", 5985, "Administrator", "p1", "p2"])
    ws.append(["以上", "計3台"])
    ws.row_dimensions[3].hidden = True
    ws.merge_cells("C4:C5")
    source = tmp_path / "ledger.xlsx"
    book.save(source)
    parsed = ledger.parse(ledger.read_cells(source), source)
    assert [r.host for r in parsed.rows] == ["pc-a", "pc-c"]
    assert [(n, "merged" in why and "C4:C5" in why) for n, why in parsed.bad] == [(5, True)]
    notes = dict(parsed.notes)
    assert set(notes) == {3, 6} and "hidden" in notes[3] and "footer" in notes[6]
    shown = ledger.parse(ledger.read_cells(source, include_hidden=True), source)
    assert "pc-old" in [r.host for r in shown.rows]
    with pytest.raises(ledger.LedgerError) as caught:
        ledger.read_cells(source, "一覧")
    assert caught.value.code == "ONSHI-E115" and "表紙, 台帳" in caught.value.text
    cover_only = tmp_path / "cover.xlsx"
    del book["台帳"]
    book.save(cover_only)
    with pytest.raises(ledger.LedgerError) as caught:
        ledger.read_cells(cover_only)
    assert caught.value.code == "ONSHI-E116" and "--sheet" in caught.value.fix
