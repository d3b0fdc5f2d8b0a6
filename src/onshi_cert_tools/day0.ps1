#Requires -Version 5.1
<#
.SYNOPSIS
    onshi-cert day 0: bring a clinic PC under management, safely (WinRM over HTTPS, open only to the vendor).
    onshi-cert 初日作業: オン資PCを保守の管理下に置きます (HTTPS の WinRM、保守用アドレスからのみ)。

.DESCRIPTION
    Run once on the PC, as an administrator, by the on-site engineer or the vendor's remote-maintenance tool.
    It changes only what it records in %ProgramData%\onshi-cert\day0.json, and -Undo puts back exactly that:
      1. the WinRM service: automatic start, running;
      2. Basic authentication and unencrypted traffic: off (CredSSP off);
      3. an HTTPS listener (port 5986) with a self-signed certificate made here (RSA 3072, 5 years, key not
         exportable, its own names and addresses in the subject alternative name), or with -CertificateThumbprint
         one from the vendor's CA already in LocalMachine\My;
      4. one inbound firewall rule for that port, open only to -MaintenanceAddress (addresses or CIDR ranges).
    It never asks for, writes or prints a password. It prints the listener certificate's SHA-256 fingerprint:
    write it in the ledger's リスナー指紋 column (or `onshi-cert listener pin`), and the controller will refuse any
    other certificate. Run twice, it changes nothing and prints the same fingerprint. On any failure it undoes what
    this run changed and exits with a coded error (D001-D006) and the fix.

.EXAMPLE
    powershell -NoProfile -ExecutionPolicy Bypass -File day0.ps1 -MaintenanceAddress 203.0.113.10,198.51.100.0/24
.EXAMPLE
    powershell -NoProfile -ExecutionPolicy Bypass -File day0.ps1 -Undo
#>
[CmdletBinding(DefaultParameterSetName = 'Enable')]
param(
    [Parameter(Mandatory = $true, ParameterSetName = 'Enable')][string[]]$MaintenanceAddress,
    [Parameter(ParameterSetName = 'Enable')][string]$CertificateThumbprint,
    [Parameter(ParameterSetName = 'Enable')][string[]]$DnsName,
    [Parameter(ParameterSetName = 'Enable')][ValidateRange(1, 65535)][int]$Port = 5986,
    [Parameter(Mandatory = $true, ParameterSetName = 'Undo')][switch]$Undo
)
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 2.0

$StateFolder = Join-Path $env:ProgramData 'onshi-cert'
$StateFile = Join-Path $StateFolder 'day0.json'
$RuleName = 'onshi-cert-WinRM-HTTPS'
$FriendlyName = 'onshi-cert WinRM listener'

Function Stop-WithCode([string]$Code, [string]$Japanese, [string]$English, [string]$Fix) {
    Write-Output "[$Code] $Japanese"
    Write-Output "       $English"
    Write-Output "  対処 / Fix: $Fix"
    exit 1
}

Function Test-Administrator {
    $principal = New-Object System.Security.Principal.WindowsPrincipal([System.Security.Principal.WindowsIdentity]::GetCurrent())
    return $principal.IsInRole([System.Security.Principal.WindowsBuiltInRole]::Administrator)
}

Function Test-Address([string]$Value) {
    # An IPv4/IPv6 address, or one with a /prefix (CIDR). Never 'Any', '*' or a name: the rule must be narrow.
    $parts = $Value.Split('/')
    $ip = $null
    if ($parts.Count -gt 2 -or -not [System.Net.IPAddress]::TryParse($parts[0], [ref]$ip)) { return $false }
    if ($parts.Count -eq 1) { return $true }
    $bits = 0
    if (-not [int]::TryParse($parts[1], [ref]$bits)) { return $false }
    $max = 32
    if ($ip.AddressFamily -eq [System.Net.Sockets.AddressFamily]::InterNetworkV6) { $max = 128 }
    return ($bits -ge 8 -and $bits -le $max)
}

Function Get-Fingerprint($Cert) {
    $sha = [System.Security.Cryptography.SHA256]::Create()
    try { $digest = $sha.ComputeHash($Cert.RawData) } finally { $sha.Dispose() }
    return ([System.BitConverter]::ToString($digest)).Replace('-', ':')
}

Function Get-HttpsListener {
    return @(Get-ChildItem -Path WSMan:\localhost\Listener | Where-Object {
            $keys = @($_.Keys)
            ($keys -contains 'Transport=HTTPS') -and ($keys -contains 'Address=*')
        })
}

Function Get-ListenerThumbprint($Listener) {
    $item = Get-ChildItem -Path "WSMan:\localhost\Listener\$($Listener.Name)" | Where-Object { $_.Name -eq 'CertificateThumbprint' }
    if ($null -eq $item) { return '' }
    return ([string]$item.Value).Replace(' ', '').ToUpperInvariant()
}

Function Save-State($State) {
    if (-not (Test-Path -LiteralPath $StateFolder)) {
        $null = New-Item -ItemType Directory -Path $StateFolder
        # Administrators and SYSTEM only: the record says what may be undone
        $acl = New-Object System.Security.AccessControl.DirectorySecurity
        $acl.SetAccessRuleProtection($true, $false)
        foreach ($sid in @('S-1-5-32-544', 'S-1-5-18')) {
            $rule = New-Object System.Security.AccessControl.FileSystemAccessRule(
                (New-Object System.Security.Principal.SecurityIdentifier($sid)), 'FullControl', 'ContainerInherit, ObjectInherit', 'None', 'Allow')
            $acl.AddAccessRule($rule)
        }
        Set-Acl -LiteralPath $StateFolder -AclObject $acl
    }
    [System.IO.File]::WriteAllText($StateFile, ($State | ConvertTo-Json -Depth 4), (New-Object System.Text.UTF8Encoding($false)))
}

Function Read-State {
    if (-not (Test-Path -LiteralPath $StateFile)) { return $null }
    return ([System.IO.File]::ReadAllText($StateFile) | ConvertFrom-Json)
}

Function Restore-Pc($State) {
    # Put back what the record says this script changed, newest first; each part on its own.
    $problems = New-Object System.Collections.ArrayList
    $parts = @(
        { if ($State.rule_created) { Remove-NetFirewallRule -Name $RuleName -ErrorAction SilentlyContinue } },
        { if ($State.listener_created) { Get-HttpsListener | ForEach-Object { Remove-Item -Path "WSMan:\localhost\Listener\$($_.Name)" -Recurse -Force } } },
        { if ($State.certificate_created -and $State.thumbprint) { Remove-Item -LiteralPath "Cert:\LocalMachine\My\$($State.thumbprint)" -DeleteKey -ErrorAction SilentlyContinue } },
        { if ($null -ne $State.basic) { Set-Item -Path WSMan:\localhost\Service\Auth\Basic -Value $State.basic } },
        { if ($null -ne $State.unencrypted) { Set-Item -Path WSMan:\localhost\Service\AllowUnencrypted -Value $State.unencrypted } },
        { if ($null -ne $State.credssp) { Set-Item -Path WSMan:\localhost\Service\Auth\CredSSP -Value $State.credssp } },
        { if ($State.service_start) { Set-Service -Name WinRM -StartupType $State.service_start } },
        { if ($State.service_status -eq 'Stopped') { Stop-Service -Name WinRM -Force } }
    )
    foreach ($part in $parts) {
        try { & $part } catch { $null = $problems.Add($_.Exception.Message) }
    }
    return @($problems)
}

if (-not (Test-Administrator)) {
    Stop-WithCode 'D001' '管理者として実行されていません。何も変更していません。' 'Not run as an administrator. Nothing was changed.' `
        'PowerShell を「管理者として実行」で開き直して、もう一度実行してください / open PowerShell with "Run as administrator" and run it again'
}

if ($Undo) {
    $state = Read-State
    if ($null -eq $state) {
        Write-Output '[D006] 元に戻す記録がありません (この PC では初日作業が行われていないか、既に元に戻しました)。'
        Write-Output '       No record to undo: day 0 was not run on this PC, or was undone already. Nothing was changed.'
        exit 0
    }
    $problems = @(Restore-Pc $state)
    if ($problems.Count -gt 0) {
        Stop-WithCode 'D005' '元に戻す途中で失敗した部分があります。記録は残しました。' "Some parts could not be undone: $([string]::Join('; ', $problems))" `
            'もう一度 -Undo で実行してください。続く場合は上の理由を保守窓口へ / run -Undo again; if it persists, send the reason above to the vendor'
    }
    Remove-Item -LiteralPath $StateFile -Force
    Write-Output '初日作業の変更を元に戻しました (WinRM の HTTPS リスナー、ファイアウォール規則、証明書、設定)。'
    Write-Output 'Day 0 was undone: the HTTPS listener, the firewall rule, the certificate and the settings are as before.'
    exit 0
}

$bad = @($MaintenanceAddress | Where-Object { -not (Test-Address $_) })
if ($bad.Count -gt 0 -or $MaintenanceAddress.Count -eq 0) {
    Stop-WithCode 'D002' "保守用アドレスが正しくありません: $([string]::Join(', ', $bad))。何も変更していません。" `
        "Not an address or CIDR range: $([string]::Join(', ', $bad)). Nothing was changed." `
        '203.0.113.10 や 198.51.100.0/24 の形で、保守拠点のアドレスだけを指定してください (Any や * は不可) / give the maintenance addresses as 203.0.113.10 or 198.51.100.0/24 (never Any or *)'
}

$previous = Read-State
$state = [ordered]@{
    version = 1; port = $Port; addresses = @($MaintenanceAddress); thumbprint = $null
    certificate_created = $false; listener_created = $false; rule_created = $false
    service_start = $null; service_status = $null; basic = $null; unencrypted = $null; credssp = $null
}
if ($null -ne $previous) {
    # Run twice: keep the first run's record of what to undo, change only what is not as it should be.
    foreach ($name in @('thumbprint', 'certificate_created', 'listener_created', 'rule_created', 'service_start', 'service_status', 'basic', 'unencrypted', 'credssp')) {
        $state[$name] = $previous.$name
    }
}

try {
    $service = Get-Service -Name WinRM
    if ($null -eq $state.service_start) {
        $state.service_start = [string](Get-CimInstance -ClassName Win32_Service -Filter "Name='WinRM'").StartMode
        if ($state.service_start -eq 'Auto') { $state.service_start = 'Automatic' }
        $state.service_status = [string]$service.Status
    }
    Save-State $state
    Set-Service -Name WinRM -StartupType Automatic
    if ($service.Status -ne 'Running') { Start-Service -Name WinRM }

    if ($null -eq $state.basic) {
        $state.basic = [string](Get-Item -Path WSMan:\localhost\Service\Auth\Basic).Value
        $state.unencrypted = [string](Get-Item -Path WSMan:\localhost\Service\AllowUnencrypted).Value
        $state.credssp = [string](Get-Item -Path WSMan:\localhost\Service\Auth\CredSSP).Value
        Save-State $state
    }
    Set-Item -Path WSMan:\localhost\Service\Auth\Basic -Value $false
    Set-Item -Path WSMan:\localhost\Service\AllowUnencrypted -Value $false
    Set-Item -Path WSMan:\localhost\Service\Auth\CredSSP -Value $false

    $listeners = @(Get-HttpsListener)
    $cert = $null
    if ($CertificateThumbprint) {
        $wanted = $CertificateThumbprint.Replace(' ', '').ToUpperInvariant()
        $cert = Get-Item -LiteralPath "Cert:\LocalMachine\My\$wanted" -ErrorAction SilentlyContinue
        if ($null -eq $cert -or -not $cert.HasPrivateKey) {
            throw [System.InvalidOperationException]::new("D003|no certificate with a private key and thumbprint $wanted in LocalMachine\My")
        }
    }
    elseif ($state.thumbprint) {
        $cert = Get-Item -LiteralPath "Cert:\LocalMachine\My\$($state.thumbprint)" -ErrorAction SilentlyContinue
    }
    if ($listeners.Count -gt 0) {
        $inUse = Get-ListenerThumbprint $listeners[0]
        if (-not $state.listener_created -and ($null -eq $cert -or $inUse -ne $cert.Thumbprint)) {
            throw [System.InvalidOperationException]::new("D004|an HTTPS listener made by someone else already uses certificate $inUse")
        }
    }
    if ($null -eq $cert) {
        $names = @($DnsName)
        if ($names.Count -eq 0 -or -not $names[0]) {
            $names = @($env:COMPUTERNAME)
            $fqdn = [System.Net.Dns]::GetHostEntry('localhost').HostName
            if ($fqdn -and $names -notcontains $fqdn) { $names += $fqdn }
        }
        $addresses = @(Get-NetIPAddress -AddressState Preferred -ErrorAction SilentlyContinue |
                Where-Object { $_.IPAddress -notlike '169.254.*' -and $_.IPAddress -notlike 'fe80*' } |
                ForEach-Object { $_.IPAddress })
        $san = @($names | ForEach-Object { "DNS=$_" }) + @($addresses | ForEach-Object { "IPAddress=$_" })
        # A self-signed certificate the controller pins: CA:true and keyCertSign, so that OpenSSL accepts it as
        # its own trust anchor; server authentication; the key never leaves the PC.
        $cert = New-SelfSignedCertificate -Subject "CN=$($names[0])" -FriendlyName $FriendlyName `
            -CertStoreLocation Cert:\LocalMachine\My -KeyAlgorithm RSA -KeyLength 3072 -HashAlgorithm SHA256 `
            -KeyExportPolicy NonExportable -NotAfter (Get-Date).AddYears(5) `
            -KeyUsage CertSign, DigitalSignature, KeyEncipherment `
            -TextExtension @('2.5.29.37={text}1.3.6.1.5.5.7.3.1', '2.5.29.19={critical}{text}ca=1&pathlength=0',
            "2.5.29.17={text}$([string]::Join('&', $san))")
        $state.thumbprint = $cert.Thumbprint
        $state.certificate_created = $true
        Save-State $state
    }
    if ($listeners.Count -eq 0) {
        $null = New-Item -Path WSMan:\localhost\Listener -Transport HTTPS -Address * -CertificateThumbPrint $cert.Thumbprint -Port $Port -Force
        $state.listener_created = $true
        $state.thumbprint = $cert.Thumbprint
        Save-State $state
    }

    $rule = Get-NetFirewallRule -Name $RuleName -ErrorAction SilentlyContinue
    if ($null -eq $rule) {
        $null = New-NetFirewallRule -Name $RuleName -DisplayName 'onshi-cert WinRM over HTTPS (maintenance addresses only)' `
            -Direction Inbound -Protocol TCP -LocalPort $Port -RemoteAddress $MaintenanceAddress -Action Allow -Profile Any
        $state.rule_created = $true
        Save-State $state
    }
    else {
        Set-NetFirewallRule -Name $RuleName -RemoteAddress $MaintenanceAddress -LocalPort $Port
    }
    $state.addresses = @($MaintenanceAddress)
    Save-State $state
}
catch {
    $message = $_.Exception.Message
    $problems = @(Restore-Pc $state)
    if ($problems.Count -eq 0) { Remove-Item -LiteralPath $StateFile -Force -ErrorAction SilentlyContinue }
    $undone = '途中までの変更は元に戻しました / what this run changed was undone'
    if ($problems.Count -gt 0) { $undone = "元に戻せなかった部分があります (-Undo で再実行) / some parts could not be undone (run -Undo): $([string]::Join('; ', $problems))" }
    if ($message -like 'D003|*') {
        Stop-WithCode 'D003' "指定の証明書が LocalMachine\My にありません (秘密鍵付き)。$undone" $message.Substring(5) `
            '業者 CA の証明書を秘密鍵付きで LocalMachine\My に入れるか、-CertificateThumbprint を省いて自己署名にしてください / import the vendor certificate with its key into LocalMachine\My, or leave -CertificateThumbprint out'
    }
    if ($message -like 'D004|*') {
        Stop-WithCode 'D004' "別の HTTPS リスナーが既にあります。$undone" $message.Substring(5) `
            '既存のリスナーの証明書を -CertificateThumbprint で指定するか、担当者と確認のうえ winrm delete winrm/config/Listener?Address=*+Transport=HTTPS で削除してください / name its certificate with -CertificateThumbprint, or remove it after checking with its owner'
    }
    Stop-WithCode 'D005' "設定に失敗しました。$undone" $message `
        '上の理由を確認してもう一度実行してください (ネットワークが「パブリック」でも動作します) / check the reason above and run it again'
}

Write-Output '初日作業が完了しました: WinRM は HTTPS のみ (Basic 認証・暗号化なし通信は無効)、保守用アドレスからのみ接続できます。'
Write-Output 'Day 0 done: WinRM over HTTPS only (Basic and unencrypted traffic off), open only to the maintenance addresses.'
Write-Output ("  ポート / port:            {0}" -f $Port)
Write-Output ("  保守用アドレス / allowed: {0}" -f [string]::Join(', ', $MaintenanceAddress))
Write-Output ("  リスナー指紋 (SHA-256) / listener fingerprint: {0}" -f (Get-Fingerprint $cert))
Write-Output '  この指紋を台帳の「リスナー指紋」欄に記入してください / write this fingerprint in the ledger (listener fingerprint).'
exit 0
