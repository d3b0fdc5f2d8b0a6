#Requires -Version 5.1
# Run onshi-cert's contract cases on this Windows PC the way WinRM does, and check the answers.
# For each NN.json in -Folder (written by `onshi-cert windows-contract`): start the command line it names
# (PowerShell -EncodedCommand <ansible-core's bootstrap wrapper>), write its stdin (ansible-core's exec
# payload, become included) to the process, save the agent's JSON answer as NN.answer.json, and check it
# against the case's expectations ([path, test, value]; the tests of onshi_cert_tools.realpc.TESTS). Each case
# gets -TimeoutSeconds; stdout and stderr are read at the same time (no deadlock on a full pipe) and decoded as
# UTF-8 (the agent's answer), never with the console's code page. The case files hold the operator's password:
# they are deleted at the end, whatever happened. Exit code 1 when any case fails.
# Test material only: the cases import a throw-away test certificate and remove it again.
param(
    [Parameter(Mandatory = $true)][string]$Folder,
    [int]$TimeoutSeconds = 120
)
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 2.0

Function Get-Names($Value) {
    return @($Value.PSObject.Properties | ForEach-Object { $_.Name })
}

Function Get-AtPath($Value, [string]$Path) {
    # Dot-separated keys and list indexes; a key holding dots (a file path) is matched as the rest of the path.
    $parts = $Path.Split('.')
    for ($i = 0; $i -lt $parts.Count; $i++) {
        if ($Value -is [System.Management.Automation.PSCustomObject]) {
            $rest = [string]::Join('.', $parts[$i..($parts.Count - 1)])
            $names = Get-Names $Value
            if ($names -contains $rest) { return @{ present = $true; value = $Value.$rest } }
            if ($names -contains $parts[$i]) { $Value = $Value.($parts[$i]); continue }
            return @{ present = $false; value = $null }
        }
        if ($Value -is [System.Array] -and $parts[$i] -match '^\d+$' -and [int]$parts[$i] -lt $Value.Count) {
            $Value = $Value[[int]$parts[$i]]
            continue
        }
        return @{ present = $false; value = $null }
    }
    return @{ present = $true; value = $Value }
}

Function Test-Same($Got, $Wanted) {
    if ($null -eq $Wanted) { return ($null -eq $Got) }
    if ($null -eq $Got) { return $false }
    if ($Wanted -is [System.Management.Automation.PSCustomObject]) {
        # only the empty object {} is compared (file_errors: {})
        return ($Got -is [System.Management.Automation.PSCustomObject] -and (Get-Names $Got).Count -eq (Get-Names $Wanted).Count -and (Get-Names $Wanted).Count -eq 0)
    }
    if ($Wanted -is [string]) { return ([string]$Got -ceq $Wanted) }
    return ($Got -eq $Wanted)
}

Function Get-Objects($Got) {
    return @(@($Got) | Where-Object { $null -ne $_ -and $_ -is [System.Management.Automation.PSCustomObject] })
}

Function Test-One([string]$Test, $Got, $Wanted) {
    switch ($Test) {
        'eq' { return (Test-Same $Got $Wanted) }
        'ne' { return (-not (Test-Same $Got $Wanted)) }
        'endswith' { return ([string]$Got).ToLowerInvariant().EndsWith(([string]$Wanted).ToLowerInvariant()) }
        'startswith' { return ([string]$Got).ToLowerInvariant().StartsWith(([string]$Wanted).ToLowerInvariant()) }
        'length' { return ($Got -is [System.Array] -and $Got.Count -eq [int]$Wanted) }
        'any_has' { return (@(Get-Objects $Got | Where-Object { (Get-Names $_) -contains $Wanted }).Count -gt 0) }
        'none_has' { return (@(Get-Objects $Got | Where-Object { (Get-Names $_) -contains $Wanted }).Count -eq 0) }
        'any_eq' { return (@(Get-Objects $Got | Where-Object { Test-Same $_.($Wanted[0]) $Wanted[1] }).Count -gt 0) }
        'all_eq' { return (@(Get-Objects $Got | Where-Object { -not (Test-Same $_.($Wanted[0]) $Wanted[1]) }).Count -eq 0) }
    }
    throw "Failed to check: unknown test '$Test'"
}

Function Get-Problems($Answer, $Expectations) {
    $problems = New-Object System.Collections.ArrayList
    foreach ($expectation in @($Expectations)) {
        $path = [string]$expectation[0]
        $test = [string]$expectation[1]
        $wanted = $expectation[2]
        $found = Get-AtPath $Answer $path
        $ok = $found.present -and (Test-One $test $found.value $wanted)
        if (-not $ok) { $null = $problems.Add("$path $test $wanted (got '$($found.value)')") }
    }
    return @($problems)
}

Function Invoke-Case($Case, [int]$TimeoutMs) {
    # One process as WinRM starts it; both pipes read asynchronously; killed when it outlives the time-out.
    $utf8 = New-Object System.Text.UTF8Encoding($false)
    $info = New-Object System.Diagnostics.ProcessStartInfo
    $info.FileName = $Case.command
    $info.Arguments = [string]::Join(' ', @($Case.arguments))
    $info.UseShellExecute = $false
    $info.CreateNoWindow = $true
    $info.RedirectStandardInput = $true
    $info.RedirectStandardOutput = $true
    $info.RedirectStandardError = $true
    $info.StandardOutputEncoding = $utf8
    $info.StandardErrorEncoding = $utf8
    $process = [System.Diagnostics.Process]::Start($info)
    try {
        $stdoutTask = $process.StandardOutput.ReadToEndAsync()
        $stderrTask = $process.StandardError.ReadToEndAsync()
        $stdin = [System.Convert]::FromBase64String($Case.stdin)
        $process.StandardInput.BaseStream.Write($stdin, 0, $stdin.Length)
        $process.StandardInput.Close()
        if (-not $process.WaitForExit($TimeoutMs)) {
            $process.Kill()
            $null = $process.WaitForExit(5000)
            return @{ stdout = ''; stderr = "no answer within $($TimeoutMs / 1000) s: the process was stopped"; rc = -1 }
        }
        $process.WaitForExit()  # the pipes are drained
        return @{ stdout = $stdoutTask.Result; stderr = $stderrTask.Result; rc = $process.ExitCode }
    }
    finally {
        $process.Dispose()
    }
}

$Folder = (Resolve-Path -LiteralPath $Folder).ProviderPath
$caseFiles = @(Get-ChildItem -LiteralPath $Folder -Filter '??.json' | Where-Object { $_.Name -match '^\d\d\.json$' } | Sort-Object Name)
if ($caseFiles.Count -eq 0) { throw "Failed to run 'contract cases': no NN.json in $Folder" }
$failures = 0
try {
    foreach ($file in $caseFiles) {
        $case = [System.IO.File]::ReadAllText($file.FullName, [System.Text.Encoding]::UTF8) | ConvertFrom-Json
        $outcome = Invoke-Case $case ($TimeoutSeconds * 1000)
        $answerPath = Join-Path $Folder ($file.BaseName + '.answer.json')
        [System.IO.File]::WriteAllText($answerPath, $outcome.stdout, (New-Object System.Text.UTF8Encoding($false)))
        try {
            $problems = @(Get-Problems ($outcome.stdout | ConvertFrom-Json) $case.expect)
        }
        catch {
            $problems = @("no JSON answer (rc $($outcome.rc)): $($outcome.stdout.Trim()) $($outcome.stderr.Trim())")
        }
        if ($problems.Count -eq 0) {
            Write-Output "ok      $($case.name)"
        }
        else {
            $failures++
            Write-Output "FAILED  $($case.name): $([string]::Join('; ', $problems))"
        }
    }
}
finally {
    # The become payloads hold the operator's password: never leave them on the PC.
    foreach ($file in $caseFiles) { Remove-Item -LiteralPath $file.FullName -Force -ErrorAction SilentlyContinue }
}
Write-Output "$($caseFiles.Count - $failures) passed, $failures failed"
if ($failures -gt 0) { exit 1 }
