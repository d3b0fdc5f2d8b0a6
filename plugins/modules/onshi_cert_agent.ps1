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

Function Test-StoreMissing($ErrorRecord) {
    # OpenExistingOnly on a store that was never created: ERROR_FILE_NOT_FOUND. Only that reads as an empty store;
    # any other failure to open (access denied, a broken registry key) fails the step with its HRESULT.
    $code = $ErrorRecord.Exception.HResult
    if ($ErrorRecord.Exception.InnerException) { $code = $ErrorRecord.Exception.InnerException.HResult }
    return ($code -eq -2147024894)  # 0x80070002
}

# The key providers whose keys live in files of the user's profile and never show UI unless protected:
# Windows' own software KSP and CSPs. Any other provider (smart card, TPM, HPKI/JPKI card, Windows Hello) is
# reported, never opened for a test signature or an export.
$SoftwareProviders = @(
    'Microsoft Software Key Storage Provider',
    'Microsoft Enhanced RSA and AES Cryptographic Provider',
    'Microsoft Enhanced Cryptographic Provider v1.0',
    'Microsoft Strong Cryptographic Provider',
    'Microsoft Base Cryptographic Provider v1.0',
    'Microsoft RSA SChannel Cryptographic Provider'
)
$KeyTimeoutMs = 15000

# Runs in its own runspace (Invoke-Bounded): what the certificate's key is, where it lives, and (for a software key
# without UI protection) whether it signs. Opening a hardware key may wait for a card or a prompt: never here.
$KeyProbeScript = {
    param($Cert, [string[]]$Software, [bool]$Sign)
    $ErrorActionPreference = 'Stop'
    $facts = @{ provider = $null; key_protection = $null; key_exportable = $null; key_usable = $false; key_error = $null
        kind = $null; container = $null; provider_type = 0; machine = $false }
    try {
        $legacy = $null
        try { $legacy = $Cert.PrivateKey } catch { $legacy = $null }  # a CNG-only key has no legacy (CSP) object
        if ($legacy -is [System.Security.Cryptography.RSACryptoServiceProvider]) {
            $info = $legacy.CspKeyContainerInfo
            $facts.kind = 'csp'
            $facts.provider = $info.ProviderName
            $facts.provider_type = $info.ProviderType
            $facts.container = $info.KeyContainerName
            $facts.machine = [bool]$info.MachineKeyStore
            $facts.key_exportable = [bool]$info.Exportable
            if ($info.Protected) { $facts.key_protection = 'ui' } else { $facts.key_protection = 'none' }
            if ($info.HardwareDevice -or $info.Removable) { $facts.key_protection = 'hardware' }
        }
        $rsa = [System.Security.Cryptography.X509Certificates.RSACertificateExtensions]::GetRSAPrivateKey($Cert)
        if ($null -eq $rsa) { $facts.key_error = 'the private key is not an RSA key'; return $facts }
        try {
            if ($rsa -is [System.Security.Cryptography.RSACng] -and $null -eq $facts.kind) {
                $key = $rsa.Key
                $facts.kind = 'cng'
                $facts.provider = $key.Provider.Provider
                $facts.container = $key.KeyName
                $facts.machine = [bool]$key.IsMachineKey
                # A key imported from a PFX into a KSP carries AllowExport, all Export(Pkcs12) needs.
                $exportable = [System.Security.Cryptography.CngExportPolicies]'AllowExport, AllowPlaintextExport'
                $facts.key_exportable = [bool]($key.ExportPolicy -band $exportable)
                $none = [System.Security.Cryptography.CngUIProtectionLevels]::None
                if ($key.UIPolicy.ProtectionLevel -eq $none) { $facts.key_protection = 'none' } else { $facts.key_protection = 'ui' }
            }
            if ($Software -notcontains $facts.provider) {
                $facts.key_protection = 'hardware'
                $facts.key_error = "the key is held by '$($facts.provider)', not a software provider: not opened"
            }
            elseif ($facts.key_protection -ne 'none') {
                $facts.key_error = 'the key is protected with a prompt (strong protection): not opened'
            }
            elseif ($Sign) {
                $probe = [System.Text.Encoding]::UTF8.GetBytes('onshi-cert key probe')
                $null = $rsa.SignData($probe, [System.Security.Cryptography.HashAlgorithmName]::SHA256,
                    [System.Security.Cryptography.RSASignaturePadding]::Pkcs1)
                $facts.key_usable = $true
            }
        }
        finally {
            $rsa.Dispose()
        }
    }
    catch {
        $facts.key_error = $_.Exception.Message.Trim()
    }
    return $facts
}

Function Invoke-Bounded($Script, [object[]]$Arguments, [int]$TimeoutMs) {
    # Run a script block in a runspace of its own and wait at most $TimeoutMs: a key that waits for a prompt no
    # WinRM session can show must not hang the PC's job. On time-out the runspace is abandoned (the process ends
    # with the answer) and $null returned.
    $ps = [System.Management.Automation.PowerShell]::Create()
    $null = $ps.AddScript($Script.ToString())
    foreach ($argument in $Arguments) { $null = $ps.AddArgument($argument) }
    $async = $ps.BeginInvoke()
    if (-not $async.AsyncWaitHandle.WaitOne($TimeoutMs)) {
        $null = $ps.BeginStop($null, $null)
        return $null
    }
    try {
        $out = @($ps.EndInvoke($async))
        if ($out.Count -eq 0) { return $null }
        return $out[0]
    }
    finally {
        $ps.Dispose()
    }
}

Function Get-KeyFacts($Cert, [bool]$Probe) {
    # Without $Probe the key is not touched: only whether the certificate says it has one.
    $facts = @{ has_private_key = [bool]$Cert.HasPrivateKey; key_probed = $false; key_usable = $null
        key_exportable = $null; provider = $null; key_protection = $null; key_error = $null }
    if (-not $Cert.HasPrivateKey -or -not $Probe) { return $facts }
    $facts.key_probed = $true
    $facts.key_usable = $false
    $found = Invoke-Bounded $KeyProbeScript @($Cert, $SoftwareProviders, $true) $KeyTimeoutMs
    if ($null -eq $found) {
        $facts.key_protection = 'ui'
        $facts.key_error = "the key gave no answer within $($KeyTimeoutMs / 1000) s (a prompt or a card may be waiting): not used"
        return $facts
    }
    foreach ($name in @('provider', 'key_protection', 'key_exportable', 'key_usable', 'key_error')) {
        $facts[$name] = $found[$name]
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
    $fileErrors = @{}
    if (Test-Key $Step.args 'read_files') {
        foreach ($path in @($Step.args.read_files)) {
            # One file that cannot be read (locked, no right) is that file's answer, not the PC's failure.
            try {
                if (Test-Path -LiteralPath $path -PathType Leaf) {
                    $files[$path] = Read-Text ([System.IO.File]::ReadAllBytes($path))
                }
                else {
                    $files[$path] = $null
                }
            }
            catch {
                $files[$path] = $null
                $fileErrors[$path] = $_.Exception.Message.Trim()
            }
        }
    }
    # The build as ansible-core reads it: the registry, not [Environment]::OSVersion (which an application
    # manifest, or its absence, can make lie).
    $osBuild = $null
    $osVersion = $null
    try {
        $key = [Microsoft.Win32.Registry]::LocalMachine.OpenSubKey('SOFTWARE\Microsoft\Windows NT\CurrentVersion')
        try {
            $osBuild = [int]$key.GetValue('CurrentBuildNumber')
            $osVersion = '{0}.{1}.{2}.{3}' -f [int]$key.GetValue('CurrentMajorVersionNumber', 10),
                [int]$key.GetValue('CurrentMinorVersionNumber', 0), $osBuild, [int]$key.GetValue('UBR', 0)
        }
        finally {
            $key.Dispose()
        }
    }
    catch {
        $os = [System.Environment]::OSVersion.Version
        $osBuild = $os.Build
        $osVersion = $os.ToString()
    }
    $sourceExists = $null
    if (Test-Key $Step.args 'event_source') { $sourceExists = Test-EventSource ([string]$Step.args.event_source) }
    # For the pre-flight: the clock, the system drive's free space, a real (not TEMP) profile, and whether an
    # account in Administrators gets a filtered token over the network (UAC remote restrictions).
    $drive = New-Object System.IO.DriveInfo($env:SystemDrive)
    $profileOk = [bool]($env:USERPROFILE -and (Test-Path -LiteralPath $env:USERPROFILE) -and $env:USERPROFILE -notmatch '\\(TEMP|Default)(\.|$)')
    $adminMember = Test-AdminMember $identity
    $filterPolicy = $false
    try {
        $value = Get-ItemProperty -LiteralPath 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\System' -Name LocalAccountTokenFilterPolicy -ErrorAction Stop
        $filterPolicy = ($value.LocalAccountTokenFilterPolicy -eq 1)
    }
    catch { $filterPolicy = $false }
    # What day 0 sets on the WinRM service, readable by an administrator only (null otherwise).
    $winrm = $null
    if ($principal.IsInRole([System.Security.Principal.WindowsBuiltInRole]::Administrator)) {
        try {
            $winrm = @{
                basic = ([string](Get-Item -Path WSMan:\localhost\Service\Auth\Basic).Value -eq 'true')
                allow_unencrypted = ([string](Get-Item -Path WSMan:\localhost\Service\AllowUnencrypted).Value -eq 'true')
            }
        }
        catch { $winrm = $null }
    }
    return @{
        winrm = $winrm
        event_source_exists = $sourceExists
        utc_now = [DateTime]::UtcNow.ToString('o')
        system_free_mb = [int64]($drive.AvailableFreeSpace / 1MB)
        profile = $profileOk
        admin_member = $adminMember
        token_filter_policy = $filterPolicy
        computer_name = $env:COMPUTERNAME
        os_build = $osBuild
        os_version = $osVersion
        ps_version = $PSVersionTable.PSVersion.ToString()
        user = $identity.Name
        is_admin = $principal.IsInRole([System.Security.Principal.WindowsBuiltInRole]::Administrator)
        logon_type = $logon
        dpapi = (Test-Dpapi)
        files = $files
        file_errors = $fileErrors
    }
}

Function Test-AdminMember($Identity) {
    # Whether the account is in the local Administrators group (S-1-5-32-544), whatever its token says. Get-LocalGroupMember
    # fails on a group holding an orphaned or Entra ID member; then the group is read through ADSI; $null (unknown) when
    # neither answers.
    try {
        $members = @(Get-LocalGroupMember -SID 'S-1-5-32-544' -ErrorAction Stop | ForEach-Object { $_.SID.Value })
        return ($members -contains $Identity.User.Value)
    }
    catch { }
    try {
        $name = (New-Object System.Security.Principal.SecurityIdentifier('S-1-5-32-544')).Translate(
            [System.Security.Principal.NTAccount]).Value.Split('\')[-1]
        $group = [ADSI]"WinNT://./$name,group"
        foreach ($member in @($group.Invoke('Members'))) {
            $sid = New-Object System.Security.Principal.SecurityIdentifier(
                [byte[]]$member.GetType().InvokeMember('objectSid', 'GetProperty', $null, $member, $null), 0)
            if ($sid.Value -eq $Identity.User.Value) { return $true }
        }
        return $false
    }
    catch {
        return $null
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

Function Get-Thumbprints($Step, [string]$Name) {
    if (-not (Test-Arg $Step $Name)) { return @() }
    return @($Step.args.$Name | ForEach-Object { ([string]$_).ToUpperInvariant() })
}

Function Invoke-ListCerts($Step) {
    # Every certificate is listed; only the keys of the thumbprints named in 'probe' are opened (a software key
    # without UI protection gets a test signature), and only those named in 'export' are exported.
    $store = Get-Arg $Step 'store'
    $probe = Get-Thumbprints $Step 'probe'
    $export = Get-Thumbprints $Step 'export'
    $exportPassword = $null
    if (Test-Arg $Step 'export_password') { $exportPassword = [string]$Step.args.export_password }
    $items = New-Object System.Collections.ArrayList
    try {
        $st = Open-Store $store $false
    }
    catch {
        if (Test-StoreMissing $_) { return @{ store = $store; certificates = @() } }
        throw
    }
    try {
        foreach ($cert in $st.Certificates) {
            $named = ($probe -contains $cert.Thumbprint) -or ($export -contains $cert.Thumbprint)
            $facts = Get-KeyFacts $cert $named
            $facts.der = [System.Convert]::ToBase64String($cert.RawData)
            $facts.friendly_name = $cert.FriendlyName
            if ($null -ne $exportPassword -and $export -contains $cert.Thumbprint -and $cert.HasPrivateKey) {
                if ($facts.key_protection -eq 'none') {
                    try {
                        $facts.pfx = Export-Pfx $cert $exportPassword
                    }
                    catch {
                        $facts.export_error = $_.Exception.Message.Trim()
                    }
                }
                else {
                    $facts.export_error = $facts.key_error
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

Function Add-OrReplace([string]$Store, $Cert) {
    # An imported certificate with its key. Already there with a working key: nothing to do. Already there with a
    # lost key: X509Store.Add would keep the old entry and its dead key link, so that entry is removed and ours
    # added; its key is then checked before the answer says 'replaced'.
    $st = Open-Store $Store $true
    $replaced = $false
    try {
        $present = @($st.Certificates.Find('FindByThumbprint', $Cert.Thumbprint, $false))
        if ($present.Count -eq 0) {
            $st.Add($Cert)
        }
        elseif ((Get-KeyFacts $present[0] $true).key_usable -or -not $Cert.HasPrivateKey) {
            return @{ thumbprint = $Cert.Thumbprint; already_present = $true; replaced = $false }
        }
        else {
            $st.Remove($present[0])
            try { $st.Add($Cert) } catch { $st.Add($present[0]); throw }
            $replaced = $true
        }
    }
    finally {
        $st.Close()
    }
    if ($replaced) {
        $now = Get-KeyFacts (Find-Cert $Store $Cert.Thumbprint) $true
        if (-not $now.key_usable) { throw "the re-imported key does not work in $Store ($($now.key_error))" }
    }
    return @{ thumbprint = $Cert.Thumbprint; already_present = $false; replaced = $replaced }
}

Function Find-CertOrNull([string]$Store, [string]$Thumbprint) {
    try {
        $st = Open-Store $Store $false
    }
    catch {
        if (Test-StoreMissing $_) { return $null }
        throw
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

Function Get-KeyIdentity($Cert) {
    # Where a certificate's key lives (CSP container or CNG key name), read without a test signature; $null when
    # it has none or it cannot be opened (a lost key).
    if (-not $Cert.HasPrivateKey) { return $null }
    $found = Invoke-Bounded $KeyProbeScript @($Cert, $SoftwareProviders, $false) $KeyTimeoutMs
    if ($null -eq $found -or $null -eq $found.kind -or -not $found.container) { return $null }
    return $found
}

Function Remove-Key($Identity) {
    # Delete a key the way .NET does and open it again: $true only when it is verifiably gone. A CSP container goes
    # through RSACryptoServiceProvider with PersistKeyInCsp off (CryptAcquireContext with CRYPT_DELETEKEYSET), a
    # CNG key through CngKey.Delete (NCryptDeleteKey).
    if ($Identity.kind -eq 'csp') {
        $params = New-Object System.Security.Cryptography.CspParameters($Identity.provider_type, $Identity.provider, $Identity.container)
        $params.Flags = [System.Security.Cryptography.CspProviderFlags]::UseExistingKey
        if ($Identity.machine) {
            $params.Flags = $params.Flags -bor [System.Security.Cryptography.CspProviderFlags]::UseMachineKeyStore
        }
        $csp = New-Object System.Security.Cryptography.RSACryptoServiceProvider(, $params)
        $csp.PersistKeyInCsp = $false
        $csp.Clear()
        try {
            $again = New-Object System.Security.Cryptography.RSACryptoServiceProvider(, $params)
            $again.PersistKeyInCsp = $true
            $again.Dispose()
            return $false
        }
        catch {
            return $true
        }
    }
    $options = [System.Security.Cryptography.CngKeyOpenOptions]::None
    if ($Identity.machine) { $options = [System.Security.Cryptography.CngKeyOpenOptions]::MachineKey }
    $provider = New-Object System.Security.Cryptography.CngProvider($Identity.provider)
    $key = [System.Security.Cryptography.CngKey]::Open($Identity.container, $provider, $options)
    $key.Delete()
    return (-not [System.Security.Cryptography.CngKey]::Exists($Identity.container, $provider, $options))
}

Function Remove-KeyOf($Cert) {
    # Delete the key of an imported certificate that was not stored (already present, or the add failed).
    try {
        $identity = Get-KeyIdentity $Cert
        if ($null -ne $identity) { $null = Remove-Key $identity }
    }
    catch { }
}

Function Test-KeyShared($Store, $Cert) {
    # A key container holds one key pair: another certificate with a key and the same public key may use it.
    $public = [System.Convert]::ToBase64String($Cert.GetPublicKey())
    foreach ($other in $Store.Certificates) {
        if ($other.Thumbprint -ne $Cert.Thumbprint -and $other.HasPrivateKey -and
            [System.Convert]::ToBase64String($other.GetPublicKey()) -eq $public) {
            return $other.Thumbprint
        }
    }
    return $null
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
        if ($null -ne $present -and (Get-KeyFacts $present $true).key_usable) {
            return @{ thumbprint = $present.Thumbprint; already_present = $true; replaced = $false }
        }
    }
    $cert = New-Object System.Security.Cryptography.X509Certificates.X509Certificate2
    $cert.Import($bytes, [string](Get-Arg $Step 'password'), $flags)
    try {
        $result = Add-OrReplace $store $cert
    }
    catch {
        Remove-KeyOf $cert
        throw
    }
    if ($result.already_present) { Remove-KeyOf $cert }  # the key just persisted is nobody's
    return $result
}

Function Invoke-AddCert($Step) {
    $store = Get-Arg $Step 'store'
    $cert = New-Object System.Security.Cryptography.X509Certificates.X509Certificate2(,
        [System.Convert]::FromBase64String((Get-Arg $Step 'der')))
    return Add-IfAbsent $store $cert
}

Function Invoke-RemoveCert($Step) {
    $store = Get-Arg $Step 'store'
    $thumbprint = ([string](Get-Arg $Step 'thumbprint')).ToUpperInvariant()
    $st = Open-Store $store $true
    $result = @{ thumbprint = $thumbprint; removed = $false; key_deleted = $false }
    try {
        foreach ($cert in @($st.Certificates.Find('FindByThumbprint', $thumbprint, $false))) {
            $identity = $null
            try { $identity = Get-KeyIdentity $cert } catch { $identity = $null }
            $sharedWith = Test-KeyShared $st $cert
            # Remove the certificate first: if the store refuses, its key is still there and usable.
            $st.Remove($cert)
            $result.removed = $true
            if ($null -ne $sharedWith) {
                $result.key_error = "the key is kept: certificate $sharedWith uses the same key"
            }
            elseif ($null -eq $identity) {
                if ($cert.HasPrivateKey) { $result.key_error = 'the key could not be opened (already gone)' }
            }
            elseif ($SoftwareProviders -notcontains $identity.provider) {
                $result.key_error = "the key is kept: it is held by '$($identity.provider)', not a software provider"
            }
            else {
                try {
                    $result.key_deleted = (Remove-Key $identity)
                    if (-not $result.key_deleted) { $result.key_error = 'the key is still there after deletion' }
                }
                catch {
                    $result.key_error = $_.Exception.Message.Trim()
                }
            }
        }
    }
    finally {
        $st.Close()
    }
    return $result
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
    $facts = Get-KeyFacts (Find-Cert $store $thumbprint) $true
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
