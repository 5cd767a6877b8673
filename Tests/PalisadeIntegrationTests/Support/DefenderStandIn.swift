import Foundation
import PalisadeCore

/// A STAND-IN for Defender's command-line tools, which cannot be installed here: an executable
/// `mdatp` (Linux, macOS) or `powershell` (Windows) in a directory the agent searches for tools,
/// answering from a file the test controls. It answers `mdatp health --output json` and
/// `Get-MpComputerStatus | ConvertTo-Json` only; every call is logged, and a `hang` file makes it
/// hang (for the timeout).
struct DefenderStandIn: Sendable {
    let directory: String
    let tool: String

    var answerPath: String { directory + "/answer.json" }
    var callLogPath: String { directory + "/calls.log" }

    /// Shape of `mdatp health --output json` on a healthy, onboarded Linux device. Field names as
    /// Microsoft documents them for `mdatp health` (learn.microsoft.com, "Investigate agent
    /// health issues", defender-endpoint/health-status.md); values are examples. Recent versions
    /// wrap configurable values as {"value": ..., "scope": ...} (from memory of real output, not
    /// from the documentation), so this recording mixes both forms and the parser reads both.
    /// No setting values here: tests that compare effective values add them.
    static let healthyLinux: JSONValue = [
        "healthy": true, "health_issues": [], "licensed": true,
        "app_version": "101.24092.0002", "engine_version": "1.1.24080.1",
        "org_id": "8a7c0e4e-2f6b-4d3a-9c1e-5b2d7f3a9e10", "machine_guid": "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b",
        "definitions_version": "1.417.472.0", "definitions_status": "up_to_date", "definitions_updated_minutes_ago": 95,
        "definitions_updated": "Nov 27, 2026 at 00:43:53 AM",
        "tamper_protection": ["value": "block", "scope": "managed"],
        "release_ring": "Production", "real_time_protection_subsystem": "fanotify",
    ]

    /// Shape of `Get-MpComputerStatus | ConvertTo-Json` in Windows PowerShell 5.1. Property names
    /// from Microsoft's Get-MpComputerStatus reference (learn.microsoft.com, example output of
    /// 4.18.24050.7); dates as ConvertTo-Json writes a DateTime ("\/Date(ms)\/").
    static let healthyWindows: JSONValue = [
        "AMEngineVersion": "1.1.24050.5", "AMProductVersion": "4.18.24050.7", "AMRunningMode": "Normal",
        "AMServiceEnabled": true, "AMServiceVersion": "4.18.24050.7", "AntispywareEnabled": true,
        "AntivirusEnabled": true, "AntivirusSignatureAge": 1, "AntivirusSignatureLastUpdated": "/Date(1717488387000)/",
        "AntivirusSignatureVersion": "1.413.102.0", "BehaviorMonitorEnabled": true, "ComputerState": 0,
        "DefenderSignaturesOutOfDate": false, "IoavProtectionEnabled": true, "IsTamperProtected": true,
        "NISEnabled": true, "OnAccessProtectionEnabled": true, "RealTimeProtectionEnabled": true,
    ]

    /// With `answer` nil no tool is installed: the directory is empty, as on a device without Defender.
    init(directory: String, platform: DevicePlatform, answer: JSONValue?) throws {
        self.directory = directory
        self.tool = platform == .windows || platform == .windowsServer ? "powershell" : "mdatp"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        if let answer {
            var answer = answer
            if tool == "powershell", answer == Self.healthyLinux { answer = Self.healthyWindows }
            try install(answering: answer)
        }
    }

    /// Puts the tool in place (Defender gets "installed") answering `answer`.
    func install(answering answer: JSONValue) throws {
        try self.answer(answer)
        let script = """
            #!/bin/sh
            # Stand-in for Defender's \(tool) (a test double): answers from answer.json beside it.
            here=$(dirname "$0")
            echo "$*" >> "$here/calls.log"
            if [ -e "$here/hang" ]; then exec sleep 30; fi
            case "$*" in
              "health --output json"|*Get-MpComputerStatus*) cat "$here/answer.json" ;;
              *) echo "the stand-in does not answer: $*" >&2; exit 2 ;;
            esac

            """
        let path = directory + "/" + tool
        try script.write(toFile: path, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
    }

    func answer(_ answer: JSONValue) throws {
        try CanonicalJSON.data(answer).write(to: URL(fileURLWithPath: answerPath), options: .atomic)
    }

    /// The healthy Linux answer with `fields` added (as plain values).
    static func linux(_ fields: [String: JSONValue]) -> JSONValue {
        var object = healthyLinux.objectValue!
        for (key, value) in fields { object[key] = value }
        return .object(object)
    }

    func hang() throws { try Data().write(to: URL(fileURLWithPath: directory + "/hang")) }

    var calls: Int {
        ((try? String(contentsOfFile: callLogPath, encoding: .utf8)) ?? "").split(separator: "\n").count
    }
}
