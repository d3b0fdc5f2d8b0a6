#!powershell
#Requires -Version 5.1
#AnsibleRequires -PowerShell ..module_utils.OnshiCertRequest
# onshi-cert host agent: a few primitive certificate operations, JSON in ($complex_args), JSON out.
# Contract: CONTRACT.md (contract version 1). Windows PowerShell 5.1; .NET X509Store API; no C#.
# Reading the request (Test-Key, Get-Keys, Get-Arg, Test-Arg): plugins/module_utils/OnshiCertRequest.psm1,
# which ansible-core's exec wrapper loads before this script.
# Every decision is made on the controller; this script only does what each step says.

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 2.0

$ContractVersion = 1
$MutatingOps = @('import_pfx', 'add_cert', 'remove_cert', 'write_file', 'add_event_source', 'write_event')

Function Split-StoreName([string]$Store) {
    $parts = $Store -split '\\'
    if ($parts.Count -ne 2 -or @('CurrentUser', 'LocalMachine') -notcontains $parts[0]) {
        throw "unknown store '$Store'"
    }
    return $parts
}

Function Open-Store([string]$Store, [bool]$Write) {
    $parts = Split-StoreName $Store
    $location = [System.Security.Cryptography.X509Certificates.StoreLocation]$parts[0]
    $st = New-Object System.Security.Cryptography.X509Certificates.X509Store($parts[1], $location)
    if ($Write) {
        $st.Open([System.Security.Cryptography.X509Certificates.OpenFlags]::ReadWrite)
    }
    else {
        $st.Open([System.Security.Cryptography.X509Certificates.OpenFlags]'ReadOnly, OpenExistingOnly')
    }
    return $st
}

Function Get-KeyFacts($Cert) {
    $facts = @{ has_private_key = [bool]$Cert.HasPrivateKey; key_usable = $false; key_exportable = $false; provider = $null }
    if (-not $Cert.HasPrivateKey) { return $facts }
    try {
        $rsa = [System.Security.Cryptography.X509Certificates.RSACertificateExtensions]::GetRSAPrivateKey($Cert)
        if ($null -eq $rsa) { return $facts }
        try {
            if ($rsa -is [System.Security.Cryptography.RSACng]) {
                $policy = $rsa.Key.ExportPolicy
                # A key imported from a PFX into a KSP carries AllowExport, all Export(Pkcs12) needs.
                $exportable = [System.Security.Cryptography.CngExportPolicies]'AllowExport, AllowPlaintextExport'
                $facts.key_exportable = [bool]($policy -band $exportable)
                $facts.provider = $rsa.Key.Provider.Provider
            }
            elseif ($rsa -is [System.Security.Cryptography.RSACryptoServiceProvider]) {
                $facts.key_exportable = [bool]$rsa.CspKeyContainerInfo.Exportable
                $facts.provider = $rsa.CspKeyContainerInfo.ProviderName
            }
            $probe = [System.Text.Encoding]::UTF8.GetBytes('onshi-cert key probe')
            $null = $rsa.SignData($probe, [System.Security.Cryptography.HashAlgorithmName]::SHA256,
                [System.Security.Cryptography.RSASignaturePadding]::Pkcs1)
            $facts.key_usable = $true
        }
        finally {
            $rsa.Dispose()
        }
    }
    catch {
        $facts.key_usable = $false
    }
    return $facts
}

Function Test-Dpapi {
    try {
        Add-Type -AssemblyName System.Security
        $sample = [System.Text.Encoding]::UTF8.GetBytes('onshi-cert dpapi probe')
        $null = [System.Security.Cryptography.ProtectedData]::Protect($sample, $null,
            [System.Security.Cryptography.DataProtectionScope]::CurrentUser)
        return $true
    }
    catch {
        return $false
    }
}

Function Read-Text([byte[]]$Bytes) {
    # A BOM decides; else strict UTF-8; else CP932, which Japanese tools (and Notepad before 1903) write.
    if ($Bytes.Length -ge 3 -and $Bytes[0] -eq 0xEF -and $Bytes[1] -eq 0xBB -and $Bytes[2] -eq 0xBF) {
        return [System.Text.Encoding]::UTF8.GetString($Bytes, 3, $Bytes.Length - 3)
    }
    if ($Bytes.Length -ge 2 -and (($Bytes[0] -eq 0xFF -and $Bytes[1] -eq 0xFE) -or ($Bytes[0] -eq 0xFE -and $Bytes[1] -eq 0xFF))) {
        $encoding = [System.Text.Encoding]::Unicode
        if ($Bytes[0] -eq 0xFE) { $encoding = [System.Text.Encoding]::BigEndianUnicode }
        return $encoding.GetString($Bytes, 2, $Bytes.Length - 2)
    }
    try {
        return (New-Object System.Text.UTF8Encoding($false, $true)).GetString($Bytes)
    }
    catch {
        return [System.Text.Encoding]::GetEncoding(932).GetString($Bytes)
    }
}

Function Invoke-HostInfo($Step) {
    $identity = [System.Security.Principal.WindowsIdentity]::GetCurrent()
    $principal = New-Object System.Security.Principal.WindowsPrincipal($identity)
    $sids = @($identity.Groups | ForEach-Object { $_.Value })
    $logon = 'unknown'
    if ($sids -contains 'S-1-5-4') { $logon = 'interactive' }
    elseif ($sids -contains 'S-1-5-2') { $logon = 'network' }
    elseif ($sids -contains 'S-1-5-3') { $logon = 'batch' }
    elseif ($sids -contains 'S-1-5-6') { $logon = 'service' }
    $files = @{}
    if (Test-Key $Step.args 'read_files') {
        foreach ($path in @($Step.args.read_files)) {
            if (Test-Path -LiteralPath $path -PathType Leaf) {
                $files[$path] = Read-Text ([System.IO.File]::ReadAllBytes($path))
            }
            else {
                $files[$path] = $null
            }
        }
    }
    $os = [System.Environment]::OSVersion.Version
    $sourceExists = $null
    if (Test-Key $Step.args 'event_source') { $sourceExists = Test-EventSource ([string]$Step.args.event_source) }
    # For the pre-flight: the clock, the system drive's free space, a real (not TEMP) profile, and whether an
    # account in Administrators gets a filtered token over the network (UAC remote restrictions).
    $drive = New-Object System.IO.DriveInfo($env:SystemDrive)
    $profileOk = [bool]($env:USERPROFILE -and (Test-Path -LiteralPath $env:USERPROFILE) -and $env:USERPROFILE -notmatch '\\(TEMP|Default)(\.|$)')
    $adminMember = $null
    try {
        $members = @(Get-LocalGroupMember -SID 'S-1-5-32-544' -ErrorAction Stop | ForEach-Object { $_.SID.Value })
        $adminMember = $members -contains $identity.User.Value
    }
    catch { $adminMember = $null }
    $filterPolicy = $false
    try {
        $value = Get-ItemProperty -LiteralPath 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\System' -Name LocalAccountTokenFilterPolicy -ErrorAction Stop
        $filterPolicy = ($value.LocalAccountTokenFilterPolicy -eq 1)
    }
    catch { $filterPolicy = $false }
    return @{
        event_source_exists = $sourceExists
        utc_now = [DateTime]::UtcNow.ToString('o')
        system_free_mb = [int64]($drive.AvailableFreeSpace / 1MB)
        profile = $profileOk
        admin_member = $adminMember
        token_filter_policy = $filterPolicy
        computer_name = $env:COMPUTERNAME
        os_build = $os.Build
        os_version = $os.ToString()
        ps_version = $PSVersionTable.PSVersion.ToString()
        user = $identity.Name
        is_admin = $principal.IsInRole([System.Security.Principal.WindowsBuiltInRole]::Administrator)
        logon_type = $logon
        dpapi = (Test-Dpapi)
        files = $files
    }
}

Function Test-EventSource([string]$Source) {
    # SourceExists searches every log; a non-administrator cannot read the Security log, so for a source that
    # does not exist yet it throws instead of answering: that, too, means 'not there'.
    try { return [bool][System.Diagnostics.EventLog]::SourceExists($Source) }
    catch { return $false }
}

Function Invoke-AddEventSource($Step) {
    # Creating an event source writes HKLM: only an administrator may. The audit trail never stops a change,
    # so a refusal is answered (created = false, error), not thrown.
    $source = [string](Get-Arg $Step 'source')
    if (Test-EventSource $source) { return @{ source = $source; created = $false } }
    try {
        [System.Diagnostics.EventLog]::CreateEventSource($source, 'Application')
        return @{ source = $source; created = $true }
    }
    catch {
        return @{ source = $source; created = $false; error = $_.Exception.Message }
    }
}

Function Invoke-WriteEvent($Step) {
    # One entry in the Application log. Never throws: a trail that cannot be written is reported (written =
    # false, error), the certificate change it records stands.
    $source = [string](Get-Arg $Step 'source')
    $id = [int](Get-Arg $Step 'event_id')
    $type = [System.Diagnostics.EventLogEntryType]([string](Get-Arg $Step 'entry_type'))
    try {
        [System.Diagnostics.EventLog]::WriteEntry($source, [string](Get-Arg $Step 'message'), $type, $id)
        return @{ source = $source; event_id = $id; written = $true }
    }
    catch {
        return @{ source = $source; event_id = $id; written = $false; error = $_.Exception.Message }
    }
}

Function Protect-Export([byte[]]$Bytes, [string]$Password) {
    # Seal the exported PFX: base64(IV || AES-256-CBC/PKCS7, key = SHA-256(UTF-8 password)). The answer is
    # printed whole by ansible-core's debug log; sealed, it holds no readable PKCS#12 (CONTRACT.md).
    $sha = [System.Security.Cryptography.SHA256]::Create()
    $aes = [System.Security.Cryptography.Aes]::Create()
    try {
        $aes.Key = $sha.ComputeHash([System.Text.Encoding]::UTF8.GetBytes($Password))
        $aes.Mode = [System.Security.Cryptography.CipherMode]::CBC
        $aes.Padding = [System.Security.Cryptography.PaddingMode]::PKCS7
        $aes.GenerateIV()
        $encryptor = $aes.CreateEncryptor()
        try {
            $cipher = $encryptor.TransformFinalBlock($Bytes, 0, $Bytes.Length)
        }
        finally {
            $encryptor.Dispose()
        }
        $sealed = New-Object byte[] ($aes.IV.Length + $cipher.Length)
        [System.Array]::Copy($aes.IV, 0, $sealed, 0, $aes.IV.Length)
        [System.Array]::Copy($cipher, 0, $sealed, $aes.IV.Length, $cipher.Length)
        return [System.Convert]::ToBase64String($sealed)
    }
    finally {
        $aes.Dispose()
        $sha.Dispose()
    }
}

Function Export-Pfx($Cert, [string]$Password) {
    $bytes = $Cert.Export([System.Security.Cryptography.X509Certificates.X509ContentType]::Pkcs12, $Password)
    return Protect-Export $bytes $Password
}

Function Invoke-ListCerts($Step) {
    $store = Get-Arg $Step 'store'
    $exportPassword = $null
    $exportExcept = @()
    if (Test-Arg $Step 'export_password') {
        $exportPassword = [string]$Step.args.export_password
        if (Test-Arg $Step 'export_except') { $exportExcept = @($Step.args.export_except) }
    }
    $items = New-Object System.Collections.ArrayList
    try {
        $st = Open-Store $store $false
    }
    catch [System.Security.Cryptography.CryptographicException] {
        return @{ store = $store; certificates = @() }
    }
    try {
        foreach ($cert in $st.Certificates) {
            $facts = Get-KeyFacts $cert
            $facts.der = [System.Convert]::ToBase64String($cert.RawData)
            $facts.friendly_name = $cert.FriendlyName
            if ($null -ne $exportPassword -and $cert.HasPrivateKey -and $exportExcept -notcontains $cert.Thumbprint) {
                try {
                    $facts.pfx = Export-Pfx $cert $exportPassword
                }
                catch {
                    $facts.export_error = $_.Exception.Message.Trim()
                }
            }
            $null = $items.Add($facts)
        }
    }
    finally {
        $st.Close()
    }
    return @{ store = $store; certificates = @($items) }
}

Function Add-IfAbsent([string]$Store, $Cert) {
    $st = Open-Store $Store $true
    try {
        $present = $st.Certificates.Find('FindByThumbprint', $Cert.Thumbprint, $false).Count -gt 0
        if (-not $present) { $st.Add($Cert) }
    }
    finally {
        $st.Close()
    }
    return @{ thumbprint = $Cert.Thumbprint; already_present = $present }
}

Function Find-CertOrNull([string]$Store, [string]$Thumbprint) {
    try {
        $st = Open-Store $Store $false
    }
    catch [System.Security.Cryptography.CryptographicException] {
        return $null
    }
    try {
        $found = @($st.Certificates.Find('FindByThumbprint', $Thumbprint, $false))
    }
    finally {
        $st.Close()
    }
    if ($found.Count -eq 0) { return $null }
    return $found[0]
}

Function Remove-KeyOf($Cert) {
    # Delete a certificate's persisted key; $true only when it was opened and deleted. A key that is
    # gone or cannot be opened (a stale certificate's) is not an error: the certificate still goes.
    try {
        if (-not $Cert.HasPrivateKey) { return $false }
        $rsa = [System.Security.Cryptography.X509Certificates.RSACertificateExtensions]::GetRSAPrivateKey($Cert)
        if ($rsa -is [System.Security.Cryptography.RSACng]) {
            $rsa.Key.Delete()
            return $true
        }
        if ($rsa -is [System.Security.Cryptography.RSACryptoServiceProvider]) {
            $rsa.PersistKeyInCsp = $false
            $rsa.Clear()
            return $true
        }
    }
    catch {
        return $false
    }
    return $false
}

Function Find-Cert([string]$Store, [string]$Thumbprint) {
    $st = Open-Store $Store $false
    try {
        $found = @($st.Certificates.Find('FindByThumbprint', $Thumbprint, $false))
    }
    finally {
        $st.Close()
    }
    if ($found.Count -eq 0) { throw "no certificate with thumbprint $Thumbprint in $Store" }
    return $found[0]
}

Function Invoke-ImportPfx($Step) {
    $store = Get-Arg $Step 'store'
    $bytes = [System.Convert]::FromBase64String((Get-Arg $Step 'pfx'))
    $flags = [System.Security.Cryptography.X509Certificates.X509KeyStorageFlags]'Exportable, PersistKeySet'
    $parts = Split-StoreName $store
    if ($parts[0] -eq 'CurrentUser') {
        $flags = $flags -bor [System.Security.Cryptography.X509Certificates.X509KeyStorageFlags]::UserKeySet
    }
    else {
        $flags = $flags -bor [System.Security.Cryptography.X509Certificates.X509KeyStorageFlags]::MachineKeySet
    }
    # Importing a certificate that is already present with a usable key would persist a second,
    # orphan key container on every re-run: the controller names the thumbprint, checked without
    # loading the PFX (loading and disposing a PFX on the PC can delete an installed key).
    if (Test-Arg $Step 'thumbprint') {
        $present = Find-CertOrNull $store ([string]$Step.args.thumbprint)
        if ($null -ne $present -and (Get-KeyFacts $present).key_usable) {
            return @{ thumbprint = $present.Thumbprint; already_present = $true }
        }
    }
    $cert = New-Object System.Security.Cryptography.X509Certificates.X509Certificate2
    $cert.Import($bytes, [string](Get-Arg $Step 'password'), $flags)
    try {
        return Add-IfAbsent $store $cert
    }
    catch {
        Remove-KeyOf $cert
        throw
    }
}

Function Invoke-AddCert($Step) {
    $store = Get-Arg $Step 'store'
    $cert = New-Object System.Security.Cryptography.X509Certificates.X509Certificate2(,
        [System.Convert]::FromBase64String((Get-Arg $Step 'der')))
    return Add-IfAbsent $store $cert
}

Function Invoke-RemoveCert($Step) {
    $store = Get-Arg $Step 'store'
    $thumbprint = [string](Get-Arg $Step 'thumbprint')
    $st = Open-Store $store $true
    $removed = $false
    $keyDeleted = $false
    try {
        foreach ($cert in @($st.Certificates.Find('FindByThumbprint', $thumbprint, $false))) {
            # Remove the certificate first: if the store refuses, its key is still there and usable.
            $st.Remove($cert)
            $removed = $true
            $keyDeleted = (Remove-KeyOf $cert)
        }
    }
    finally {
        $st.Close()
    }
    return @{ thumbprint = $thumbprint; removed = $removed; key_deleted = $keyDeleted }
}

Function Invoke-ExportPfx($Step) {
    $store = Get-Arg $Step 'store'
    $thumbprint = [string](Get-Arg $Step 'thumbprint')
    $cert = Find-Cert $store $thumbprint
    return @{ thumbprint = $thumbprint; pfx = (Export-Pfx $cert ([string](Get-Arg $Step 'password'))) }
}

Function Invoke-AssertCert($Step) {
    $store = Get-Arg $Step 'store'
    $thumbprint = [string](Get-Arg $Step 'thumbprint')
    $expect = Get-Arg $Step 'expect'
    $facts = Get-KeyFacts (Find-Cert $store $thumbprint)
    foreach ($name in (Get-Keys $expect)) {
        $wanted = $expect.$name
        if ([bool]$facts[$name] -ne [bool]$wanted) {
            throw "$name is $($facts[$name]), expected $wanted"
        }
    }
    $facts.thumbprint = $thumbprint
    return $facts
}

Function Invoke-WriteFile($Step) {
    $path = [string](Get-Arg $Step 'path')
    $bytes = [System.Convert]::FromBase64String((Get-Arg $Step 'content'))
    $dir = [System.IO.Path]::GetDirectoryName($path)
    if (-not (Test-Path -LiteralPath $dir -PathType Container)) { throw "folder '$dir' does not exist" }
    $temp = "$path.partial"
    [System.IO.File]::WriteAllBytes($temp, $bytes)
    Move-Item -LiteralPath $temp -Destination $path -Force
    return @{ path = $path; size = $bytes.Length }
}

$Verbs = @{
    host_info = @('read', 'host facts'); list_certs = @('list', 'store'); import_pfx = @('import', 'store')
    add_cert = @('add', 'store'); remove_cert = @('remove', 'thumbprint'); export_pfx = @('export', 'thumbprint')
    write_file = @('write', 'path'); assert_cert = @('verify', 'thumbprint')
    add_event_source = @('register', 'source'); write_event = @('log', 'source')
}

# Under AppLocker or WDAC enforcement an unsigned script runs in ConstrainedLanguage mode, where the .NET
# certificate APIs below are blocked: say so in the contract's shape instead of failing step by step.
$languageMode = [string]$ExecutionContext.SessionState.LanguageMode
if ($languageMode -ne 'FullLanguage') {
    $reason = "PowerShell runs in $languageMode mode (AppLocker or WDAC enforcement), which blocks the .NET certificate APIs the agent needs"
    @{ contract = $ContractVersion; changed = $false; failed = $true; steps = @(); language_mode = $languageMode
        msg = "Failed to run 'onshi_cert_agent': $reason" } | ConvertTo-Json -Compress
    return
}

$checkMode = $false
if (Test-Key $complex_args '_ansible_check_mode') { $checkMode = [bool]$complex_args._ansible_check_mode }
$results = New-Object System.Collections.ArrayList
$changed = $false
$failedMsg = $null
foreach ($step in @($complex_args.steps)) {
    $op = [string]$step.op
    $report = @{ op = $op; ok = $false }
    $target = $op
    $verb = 'run'
    if ($Verbs.ContainsKey($op)) { $verb = $Verbs[$op][0] }
    try {
        if (-not $Verbs.ContainsKey($op)) { throw "unknown operation (contract version $ContractVersion)" }
        if ($Verbs[$op][1] -ne 'host facts') { $target = [string](Get-Arg $step $Verbs[$op][1]) } else { $target = $env:COMPUTERNAME }
        if ($checkMode -and $MutatingOps -contains $op) { throw 'refusing a change in check mode' }
        switch ($op) {
            'host_info' { $report.result = Invoke-HostInfo $step }
            'list_certs' { $report.result = Invoke-ListCerts $step }
            'import_pfx' { $report.result = Invoke-ImportPfx $step; if (-not $report.result.already_present) { $changed = $true } }
            'add_cert' { $report.result = Invoke-AddCert $step; if (-not $report.result.already_present) { $changed = $true } }
            'remove_cert' { $report.result = Invoke-RemoveCert $step; if ($report.result.removed) { $changed = $true } }
            'export_pfx' { $report.result = Invoke-ExportPfx $step }
            'assert_cert' { $report.result = Invoke-AssertCert $step }
            'write_file' { $report.result = Invoke-WriteFile $step; $changed = $true }
            'add_event_source' { $report.result = Invoke-AddEventSource $step; if ($report.result.created) { $changed = $true } }
            'write_event' { $report.result = Invoke-WriteEvent $step; if ($report.result.written) { $changed = $true } }
        }
        $report.ok = $true
    }
    catch {
        $reason = $_.Exception.Message
        if ($_.Exception.InnerException) { $reason = $_.Exception.InnerException.Message }
        $report.error = "Failed to $verb '$target': $($reason.Trim())"
        # Windows' text is localized: the HRESULT is what the controller compares.
        $code = $_.Exception.HResult
        if ($_.Exception.InnerException -and $_.Exception.InnerException.HResult) { $code = $_.Exception.InnerException.HResult }
        if ($code -and $code -ne -2146233087) { $report.hresult = '0x{0:X8}' -f $code }  # not the generic COR_E_EXCEPTION
        $failedMsg = $report.error
    }
    $null = $results.Add($report)
    if ($null -ne $failedMsg) { break }
}

$output = @{ contract = $ContractVersion; changed = $changed; failed = ($null -ne $failedMsg); steps = @($results) }
if ($null -ne $failedMsg) { $output.msg = $failedMsg }
$output | ConvertTo-Json -Compress -Depth 8
