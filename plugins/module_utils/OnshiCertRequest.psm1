# onshi-cert host agent: reading the request. Loaded by ansible-core's exec wrapper before the agent
# (plugins/modules/onshi_cert_agent.ps1: #AnsibleRequires -PowerShell ..module_utils.OnshiCertRequest).
# Windows PowerShell 5.1; no C#. Contract: plugins/plugin_utils/agent/CONTRACT.md.

Function Test-Key($Table, [string]$Name) {
    # ansible-core's exec wrapper turns every JSON object into a Hashtable (Convert-JsonObject): on a
    # hashtable .PSObject.Properties lists Count/Keys/Values, never the entries, so look keys up with
    # Contains(). A PSCustomObject (the agent run by hand with ConvertFrom-Json) is still understood.
    if ($null -eq $Table) { return $false }
    if ($Table -is [System.Collections.IDictionary]) { return $Table.Contains($Name) }
    return (Get-Keys $Table) -contains $Name
}

Function Get-Keys($Table) {
    if ($Table -is [System.Collections.IDictionary]) { return @($Table.Keys) }
    return @($Table.PSObject.Properties | ForEach-Object { $_.Name })
}

Function Get-Arg($Step, [string]$Name) {
    $args_ = $Step.args
    if (-not (Test-Key $args_ $Name)) {
        throw "missing argument '$Name'"
    }
    return $args_.$Name
}

Function Test-Arg($Step, [string]$Name) {
    return (Test-Key $Step.args $Name)
}

Export-ModuleMember -Function Test-Key, Get-Keys, Get-Arg, Test-Arg
