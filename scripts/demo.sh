#!/usr/bin/env bash
# Set everything up, then run the main job against the lab: start the simulated fleet, provision it,
# audit it, and say where the report is. 全部セットアップしてラボでメインジョブを実行します。
set -uo pipefail
cd "$(dirname "$0")/.."
# Messages follow the locale; ONSHI_CERT_LANG=ja|en chooses (日本語: ONSHI_CERT_LANG=ja bash scripts/demo.sh).
bash scripts/bootstrap.sh || exit 1
export PATH="$PWD/.venv/bin:$PATH"
echo "== 1/5 lab up: the sample fleet of オン資PCs on loopback"
onshi-cert lab up --fresh || exit 1
echo "== 2/5 the download site: .p12 files for the PCs that need a certificate"
onshi-cert lab issue || exit 1
echo "== 3/5 provision.yml"
echo "   想定どおりの失敗・要対応 / deliberate failures of the sample fleet (each PC broken on purpose):"
echo "   - okinawa-houmon-pc01: WinRM が無効で接続できない / WinRM disabled: unreachable"
echo "   - nagoya-clinic-pc01: 鍵をエクスポートできずバックアップ不可 / key not exportable: no backup possible"
echo "   - osaka-yakkyoku-pc01: 古い Windows (1703) で AES の .p12 を入れられない / Windows 1703 cannot import AES .p12"
echo "   - tokyo-clinic-pc01: 別の医療機関の証明書がある / holds another facility's certificate"
echo "   - fukuoka-shika-pc01: 偽の発行元の証明書がある / a look-alike CA's certificate"
echo "   - kyoto-clinic-pc01: 鍵をなくした証明書 / a certificate whose key was lost"
echo "   - hiroshima-clinic-pc01: 顔認証ライブラリが古い / face-auth library too old to renew"
ansible-playbook playbooks/provision.yml
echo "== 4/5 backup.yml"
ansible-playbook playbooks/backup.yml
echo "== 5/5 audit.yml"
ansible-playbook playbooks/audit.yml
report=".lab/reports/latest/report.html"
if [ -f "$report" ]; then
    echo
    echo "レポート / report: $PWD/$report  (English: $PWD/.lab/reports/latest/report.en.html)"
    echo "作業報告書・更新のご案内 / work reports and renewal notices: $PWD/inventories/lab/onshi-cert-data/work/" \
        "and $PWD/.lab/reports/latest/notices/"
    echo "端末記録 / the fleet record: $PWD/inventories/lab/onshi-cert-data/onshi-cert.db (onshi-cert store check)"
    echo "ラボの停止 / stop the lab: .venv/bin/onshi-cert lab down"
else
    echo "the audit wrote no report: see the output above" >&2
    exit 1
fi
