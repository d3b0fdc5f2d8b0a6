#Requires -Version 5.1
# Run onshi-cert's contract cases on this Windows PC the way WinRM does, and check the answers.
# For each NN.json in -Folder (written by `onshi-cert windows-contract`): start the command line it names
# (PowerShell -EncodedCommand <ansible-core's bootstrap wrapper>), write its stdin (ansible-core's exec
# payload, become included) to the process, save the agent's JSON answer as NN.answer.json, and check it
# against the case's expectations ([path, test, value]; tests eq, ne, endswith, any_has). Exit code 1 when
# any case fails. Test material only: the cases import a throw-away test certificate and remove it again.
param(
    [Parameter(Mandatory = $true)][string]$Folder
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
    if ($Wanted -is [string]) { return ([string]$Got -ceq $Wanted) }
    return ($Got -eq $Wanted)
}

Function Get-Problems($Answer, $Expectations) {
    $problems = New-Object System.Collections.ArrayList
    foreach ($expectation in @($Expectations)) {
        $path = [string]$expectation[0]
        $test = [string]$expectation[1]
        $wanted = $expectation[2]
        $found = Get-AtPath $Answer $path
        $got = $found.value
        $ok = $false
        if ($found.present) {
            switch ($test) {
                'eq' { $ok = (Test-Same $got $wanted) }
                'ne' { $ok = -not (Test-Same $got $wanted) }
                'endswith' { $ok = ([string]$got).ToLowerInvariant().EndsWith(([string]$wanted).ToLowerInvariant()) }
                'any_has' { $ok = @(@($got) | Where-Object { $null -ne $_ -and (Get-Names $_) -contains $wanted }).Count -gt 0 }
                default { throw "Failed to check '$path': unknown test '$test'" }
            }
        }
        if (-not $ok) { $null = $problems.Add("$path $test $wanted (got '$got')") }
    }
    return @($problems)
}

$cases = @(Get-ChildItem -LiteralPath $Folder -Filter '??.json' | Sort-Object Name)
if ($cases.Count -eq 0) { throw "Failed to run 'contract cases': no NN.json in $Folder" }
$failures = 0
foreach ($file in $cases) {
    $case = Get-Content -LiteralPath $file.FullName -Raw | ConvertFrom-Json
    $info = New-Object System.Diagnostics.ProcessStartInfo
    $info.FileName = $case.command
    $info.Arguments = [string]::Join(' ', @($case.arguments))
    $info.UseShellExecute = $false
    $info.RedirectStandardInput = $true
    $info.RedirectStandardOutput = $true
    $info.RedirectStandardError = $true
    $process = [System.Diagnostics.Process]::Start($info)
    $stdin = [System.Convert]::FromBase64String($case.stdin)
    $process.StandardInput.BaseStream.Write($stdin, 0, $stdin.Length)
    $process.StandardInput.Close()
    $stdout = $process.StandardOutput.ReadToEnd()
    $stderr = $process.StandardError.ReadToEnd()
    $process.WaitForExit()
    $answerPath = Join-Path $Folder ($file.BaseName + '.answer.json')
    [System.IO.File]::WriteAllText($answerPath, $stdout, (New-Object System.Text.UTF8Encoding($false)))
    try {
        $problems = @(Get-Problems ($stdout | ConvertFrom-Json) $case.expect)
    }
    catch {
        $problems = @("no JSON answer (rc $($process.ExitCode)): $($stdout.Trim()) $($stderr.Trim())")
    }
    if ($problems.Count -eq 0) {
        Write-Output "ok      $($case.name)"
    }
    else {
        $failures++
        Write-Output "FAILED  $($case.name): $([string]::Join('; ', $problems))"
    }
}
Write-Output "$($cases.Count - $failures) passed, $failures failed"
if ($failures -gt 0) { exit 1 }
