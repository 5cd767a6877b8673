import Foundation
import PalisadeCore
import PalisadeSupport

/// Reads the device's inventory; command-line overrides win (tests, demos, several agents on
/// one machine).
public struct DeviceInventoryProbe: Sendable {
    public var root: EnforcementRoot
    public var platformOverride: DevicePlatform?
    public var hostnameOverride: String?
    public var hardwareIdOverride: String?
    /// Tags from the device's own configuration, reported apart from admin tags.
    public var tags: [String]

    public init(root: EnforcementRoot, platform: DevicePlatform? = nil, hostname: String? = nil, hardwareId: String? = nil, tags: [String] = []) {
        self.root = root
        self.platformOverride = platform
        self.hostnameOverride = hostname
        self.hardwareIdOverride = hardwareId
        self.tags = tags
    }

    /// Whether another channel already manages Defender's settings here: a managed file or
    /// profile that Palisade did not write (macOS, Linux), or Defender policy an MDM delivered
    /// under PolicyManager (Windows).
    public func defenderManagedElsewhere(platform: DevicePlatform, palisadeWroteSettings: Bool) -> Bool {
        switch platform {
        case .linux:
            return !palisadeWroteSettings && AtomicFile.exists(root.resolve(LinuxManagedJSONRenderer.relativePath))
        case .macos:
            return !palisadeWroteSettings && AtomicFile.exists(root.resolve(MacOSPlistRenderer.relativePath))
        case .windows, .windowsServer:
            let values = (try? PalisadeAgent.registry(root: root).read(keys: [Self.mdmDefenderPolicyKey])) ?? []
            return !values.isEmpty
        }
    }

    /// Where Windows keeps Defender policy delivered by an MDM (Policy CSP).
    public static let mdmDefenderPolicyKey = "HKLM\\SOFTWARE\\Microsoft\\PolicyManager\\current\\device\\Defender"

    public func inventory(palisadeWroteSettings: Bool = false) throws -> DeviceProtocol.Inventory {
        let platform = platformOverride ?? Self.hostPlatform
        guard let hardwareId = hardwareIdOverride ?? Self.machineId(root: root) else {
            throw AgentError.invalidArgument("cannot read a stable hardware id (/etc/machine-id); pass --hardware-id")
        }
        return DeviceProtocol.Inventory(
            hostname: hostnameOverride ?? ProcessInfo.processInfo.hostName,
            platform: platform,
            osVersion: Self.osVersion(root: root),
            hardwareId: hardwareId,
            agentVersion: AgentVersion.current,
            mdmEnrolled: false,
            defenderManagedElsewhere: defenderManagedElsewhere(platform: platform, palisadeWroteSettings: palisadeWroteSettings),
            // Defender's presence and health come from DefenderMonitor (its own tools).
            defenderInstalled: nil,
            tags: tags)
    }

    static var hostPlatform: DevicePlatform {
        #if os(macOS)
        .macos
        #elseif os(Windows)
        .windows
        #else
        .linux
        #endif
    }

    /// systemd's machine id: stable across reboots, unique per installation.
    static func machineId(root: EnforcementRoot) -> String? {
        for path in [root.resolve("etc/machine-id"), "/etc/machine-id", "/var/lib/dbus/machine-id"] {
            if let bytes = AtomicFile.read(path) {
                let id = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                if !id.isEmpty { return id }
            }
        }
        return nil
    }

    static func osVersion(root: EnforcementRoot) -> String {
        for path in [root.resolve("etc/os-release"), "/etc/os-release"] {
            guard let bytes = AtomicFile.read(path) else { continue }
            for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") where line.hasPrefix("PRETTY_NAME=") {
                return String(line.dropFirst("PRETTY_NAME=".count)).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            }
        }
        return ProcessInfo.processInfo.operatingSystemVersionString
    }
}
