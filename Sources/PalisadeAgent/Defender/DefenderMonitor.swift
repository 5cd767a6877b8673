import Foundation
import NIOConcurrencyHelpers
import NIOPosix
import PalisadeCore

/// Reads Defender's presence and health with its own tools, at most once per `maximumAge`
/// (a reading runs a process; the check-in loop may turn every few seconds), each reading
/// bounded by the runner's timeout.
public final class DefenderMonitor: Sendable {
    public let runner: CommandRunner
    public let maximumAge: Duration
    private let cache = NIOLockedValueBox<(observation: DefenderObservation, key: String, at: ContinuousClock.Instant)?>(nil)
    /// The reading under way, if any: callers arriving meanwhile wait for it rather than start
    /// their own (a monitor shared by many simulated devices would otherwise run the tool once
    /// per device when its reading expires).
    private let inFlight = NIOLockedValueBox<(key: String, reading: Task<DefenderObservation, Never>)?>(nil)

    public init(runner: CommandRunner = CommandRunner(), maximumAge: Duration = .seconds(60)) {
        self.runner = runner
        self.maximumAge = maximumAge
    }

    /// Where Windows keeps the Defender for Endpoint onboarding state (`OrgId`).
    public static let windowsOnboardingStatusKey = "HKLM\\SOFTWARE\\Microsoft\\Windows Advanced Threat Protection\\Status"

    /// The last reading if it is recent enough, else a new one (the tool runs as a subprocess
    /// awaited without holding a thread).
    public func observe(platform: DevicePlatform, registry: (any RegistryStore)?, now: Date) async -> DefenderObservation {
        let key = platform.rawValue
        let clock = ContinuousClock()
        if let cached = cache.withLockedValue({ $0 }), cached.key == key, clock.now - cached.at < maximumAge {
            return cached.observation
        }
        let runner = self.runner
        let reading = inFlight.withLockedValue { inFlight -> Task<DefenderObservation, Never> in
            if let inFlight, inFlight.key == key { return inFlight.reading }
            // Unstructured: callers asking at the same time share this one reading, and it is
            // not cancelled with whichever of them asked first.
            let reading = Task {
                let observation = await Self.read(platform: platform, runner: runner, registry: registry, now: now)
                self.cache.withLockedValue { $0 = (observation, key, clock.now) }
                self.inFlight.withLockedValue { if $0?.key == key { $0 = nil } }
                return observation
            }
            inFlight = (key, reading)
            return reading
        }
        return await reading.value
    }

    /// One reading.
    public static func read(platform: DevicePlatform, runner: CommandRunner, registry: (any RegistryStore)?, now: Date) async -> DefenderObservation {
        switch platform {
        case .linux, .macos:
            let source = "mdatp health"
            switch await runner.run("mdatp", ["health", "--output", "json"]) {
            case .notFound:
                return .notInstalled("mdatp was not found on the agent's PATH: Defender for Endpoint is not installed", source: source)
            case .timedOut(_, let after):
                return DefenderObservation(status: DefenderStatus(installed: true, detail: "mdatp health did not answer within \(after)"), source: source)
            case .failedToStart(_, let reason):
                return DefenderObservation(status: DefenderStatus(installed: true, detail: "mdatp could not be started: \(reason)"), source: source)
            case .finished(let code, _) where code != 0:
                return DefenderObservation(status: DefenderStatus(installed: true, detail: "mdatp health failed with exit status \(code)"), source: source)
            case .finished(_, let output):
                return MdatpHealthParser.parse(output, now: now)
                    ?? DefenderObservation(status: DefenderStatus(installed: true, detail: "mdatp health answered something that is not a JSON object"), source: source)
            }
        case .windows, .windowsServer:
            let source = "Get-MpComputerStatus"
            switch await runner.run("powershell", ["-NoProfile", "-NonInteractive", "-Command", "Get-MpComputerStatus | ConvertTo-Json"]) {
            case .notFound:
                return .notInstalled("powershell was not found on the agent's PATH, so Get-MpComputerStatus cannot be read", source: source)
            case .timedOut(_, let after):
                return DefenderObservation(status: DefenderStatus(installed: true, detail: "Get-MpComputerStatus did not answer within \(after)"), source: source)
            case .failedToStart(_, let reason):
                return .notInstalled("powershell could not be started: \(reason)", source: source)
            case .finished(let code, _) where code != 0:
                return .notInstalled("Get-MpComputerStatus failed with exit status \(code): Defender Antivirus is not installed or its service is not running", source: source)
            case .finished(_, let output):
                let organization = (try? registry?.read(keys: [windowsOnboardingStatusKey]))?
                    .first { $0.location.name.lowercased() == "orgid" }
                    .flatMap { value -> String? in if case .string(let id) = value.data { id } else { nil } }
                return MpComputerStatusParser.parse(output, now: now, organizationId: organization)
                    ?? DefenderObservation(status: DefenderStatus(installed: true, detail: "Get-MpComputerStatus answered something that is not a JSON object"), source: source)
            }
        }
    }
}
