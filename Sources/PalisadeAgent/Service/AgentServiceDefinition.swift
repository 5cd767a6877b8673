import Foundation
import PalisadeCore

/// How the agent runs as a service on each platform: a systemd unit (Linux), a launchd daemon
/// (macOS), a Task Scheduler task at start-up (Windows), with the commands that install and
/// remove it. `palisade agent install-service [--print]` writes (or prints) it.
public struct AgentServiceDefinition: Sendable, Equatable {
    public enum Kind: String, Sendable {
        case systemd
        case launchd
        case windowsTask
    }

    public var kind: Kind
    /// The palisade executable the service runs.
    public var executable: String
    /// The agent's state directory (`--state-dir`).
    public var stateDirectory: String

    public static let systemdUnitName = "palisade-agent.service"
    public static let launchdLabel = "com.palisade.agent"
    public static let windowsTaskName = "Palisade\\Agent"

    public init(kind: Kind, executable: String, stateDirectory: String) {
        self.kind = kind
        self.executable = executable
        self.stateDirectory = stateDirectory
    }

    public static func kind(for platform: DevicePlatform) -> Kind {
        switch platform {
        case .linux: .systemd
        case .macos: .launchd
        case .windows, .windowsServer: .windowsTask
        }
    }

    /// The state directory a service uses when none is given.
    public static func defaultStateDirectory(_ kind: Kind) -> String {
        switch kind {
        case .systemd: "/var/lib/palisade"
        case .launchd: "/Library/Application Support/Palisade/state"
        case .windowsTask: "C:\\ProgramData\\Palisade\\state"
        }
    }

    /// Where the definition is installed.
    public static func defaultDirectory(_ kind: Kind) -> String {
        switch kind {
        case .systemd: "/etc/systemd/system"
        case .launchd: "/Library/LaunchDaemons"
        case .windowsTask: "C:\\ProgramData\\Palisade"
        }
    }

    public var fileName: String {
        switch kind {
        case .systemd: Self.systemdUnitName
        case .launchd: Self.launchdLabel + ".plist"
        case .windowsTask: "palisade-agent-task.xml"
        }
    }

    /// The directories the agent writes besides its state: where Defender reads its managed
    /// configuration (Linux, macOS).
    public var managedDirectories: [String] {
        switch kind {
        case .systemd: ["/etc/opt/microsoft/mdatp/managed"]
        case .launchd: ["/Library/Managed Preferences"]
        case .windowsTask: []
        }
    }

    /// The definition's text.
    public func render() throws -> String {
        switch kind {
        case .systemd: systemdUnit()
        case .launchd: try launchdPlist()
        case .windowsTask: windowsTask()
        }
    }

    /// systemd quotes arguments with double quotes and backslash escapes; `%` is a specifier.
    static func systemdQuote(_ argument: String) -> String {
        let escaped = argument.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "%", with: "%%")
        return escaped.contains(where: { $0 == " " || $0 == "\t" || $0 == "'" }) || escaped != argument ? "\"\(escaped)\"" : escaped
    }

    func systemdUnit() -> String {
        let run = [executable, "agent", "run", "--state-dir", stateDirectory].map(Self.systemdQuote).joined(separator: " ")
        let writable = ([stateDirectory] + managedDirectories).map(Self.systemdQuote).joined(separator: " ")
        return """
            # Written by `palisade agent install-service`.
            [Unit]
            Description=Palisade agent: applies Microsoft Defender for Endpoint settings and reports their state
            Wants=network-online.target
            After=network-online.target
            # Keep retrying however often it fails (the agent itself backs off from an unreachable server).
            StartLimitIntervalSec=0

            [Service]
            Type=simple
            # Defender's managed directory may not exist before Defender is installed: create it
            # with full privileges, since the service itself sees /etc read-only.
            ExecStartPre=+/bin/mkdir -p \(managedDirectories.map(Self.systemdQuote).joined(separator: " "))
            ExecStart=\(run)
            Restart=on-failure
            RestartSec=10s
            # Exit status 3: the device was retired by an administrator; restarting cannot help.
            RestartPreventExitStatus=3
            # Sandbox: everything read-only but the state directory and Defender's managed directory.
            NoNewPrivileges=yes
            ProtectSystem=strict
            ReadWritePaths=\(writable)
            ProtectHome=yes
            PrivateTmp=yes
            PrivateDevices=yes
            ProtectKernelTunables=yes
            ProtectKernelModules=yes
            ProtectKernelLogs=yes
            ProtectControlGroups=yes
            ProtectClock=yes
            ProtectHostname=yes
            RestrictSUIDSGID=yes
            RestrictRealtime=yes
            LockPersonality=yes
            RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
            SystemCallArchitectures=native
            UMask=0077

            [Install]
            WantedBy=multi-user.target

            """
    }

    func launchdPlist() throws -> String {
        let plist: [String: Any] = [
            "Label": Self.launchdLabel,
            "ProgramArguments": [executable, "agent", "run", "--state-dir", stateDirectory],
            "RunAtLoad": true,
            // Restarted whenever it exits with a failure (launchd cannot single out exit status 3).
            "KeepAlive": ["SuccessfulExit": false],
            "ThrottleInterval": 10,
            "ProcessType": "Standard",
            "StandardOutPath": "/Library/Logs/Palisade/agent.log",
            "StandardErrorPath": "/Library/Logs/Palisade/agent.log",
        ]
        let data = try PropertyListSerialization.data(fromPropertyList: plist, format: .xml, options: 0)
        return String(decoding: data, as: UTF8.self)
    }

    static func xmlEscape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    /// A Task Scheduler task (schema 1.2) that starts the agent at boot as SYSTEM and restarts it
    /// after a failure. A task, not a Service Control Manager service: `palisade.exe` does not
    /// answer the SCM's control requests, which a service must do within 30 s.
    func windowsTask() -> String {
        let arguments = "agent run --state-dir \"\(stateDirectory)\""
        return """
            <?xml version="1.0" encoding="UTF-8"?>
            <Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
              <RegistrationInfo>
                <Description>Palisade agent: applies Microsoft Defender for Endpoint settings and reports their state</Description>
                <URI>\\\(Self.xmlEscape(Self.windowsTaskName))</URI>
              </RegistrationInfo>
              <Triggers>
                <BootTrigger><Enabled>true</Enabled></BootTrigger>
              </Triggers>
              <Principals>
                <Principal id="System">
                  <UserId>S-1-5-18</UserId>
                  <RunLevel>HighestAvailable</RunLevel>
                </Principal>
              </Principals>
              <Settings>
                <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>
                <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>
                <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>
                <ExecutionTimeLimit>PT0S</ExecutionTimeLimit>
                <StartWhenAvailable>true</StartWhenAvailable>
                <RestartOnFailure>
                  <Interval>PT1M</Interval>
                  <Count>999</Count>
                </RestartOnFailure>
                <Enabled>true</Enabled>
              </Settings>
              <Actions Context="System">
                <Exec>
                  <Command>\(Self.xmlEscape(executable))</Command>
                  <Arguments>\(Self.xmlEscape(arguments))</Arguments>
                </Exec>
              </Actions>
            </Task>

            """
    }

    /// The commands that register and start the installed definition at `path`.
    public func activationCommands(path: String) -> [[String]] {
        switch kind {
        case .systemd: [["systemctl", "daemon-reload"], ["systemctl", "enable", "--now", Self.systemdUnitName]]
        case .launchd: [["launchctl", "bootstrap", "system", path]]
        case .windowsTask: [["schtasks", "/Create", "/TN", Self.windowsTaskName, "/XML", path, "/F"], ["schtasks", "/Run", "/TN", Self.windowsTaskName]]
        }
    }

    /// The commands that stop and unregister it (before the file is removed).
    public func deactivationCommands(path: String) -> [[String]] {
        switch kind {
        case .systemd: [["systemctl", "disable", "--now", Self.systemdUnitName]]
        case .launchd: [["launchctl", "bootout", "system/" + Self.launchdLabel]]
        case .windowsTask: [["schtasks", "/End", "/TN", Self.windowsTaskName], ["schtasks", "/Delete", "/TN", Self.windowsTaskName, "/F"]]
        }
    }

    /// Run after the file is removed.
    public var cleanupCommands: [[String]] {
        kind == .systemd ? [["systemctl", "daemon-reload"]] : []
    }
}
