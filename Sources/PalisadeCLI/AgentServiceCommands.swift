import ArgumentParser
import Foundation
import PalisadeAgent
import PalisadeCore
import PalisadeSupport
import Subprocess
import SystemPackage

/// `palisade agent install-service` / `uninstall-service`: run the agent as a service of the
/// platform it runs on (systemd, launchd, Task Scheduler).
struct InstallService: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "install-service",
        abstract: "Install the agent as a service (systemd unit, launchd daemon, Windows start-up task), enable and start it.",
        discussion: "--print writes the definition to standard output and changes nothing.")

    @Option(help: "The agent's state directory (default: the platform's, e.g. /var/lib/palisade).")
    var stateDir: String?
    @Option(help: ArgumentHelp("The palisade executable the service runs (default: this one).", valueName: "path"))
    var executable: String?
    @Option(help: "The platform whose definition to write: linux, macos, windows (default: this one).")
    var platform: DevicePlatform?
    @Option(help: ArgumentHelp("Where to install the definition (default: the platform's, e.g. /etc/systemd/system).", valueName: "directory"))
    var directory: String?
    @Flag(help: "Write the definition to standard output instead of installing it.")
    var print = false
    @Flag(help: "Install the file but do not run the service manager's commands (enable, start).")
    var noActivate = false

    func run() async throws {
        let kind = AgentServiceDefinition.kind(for: platform ?? ServiceHost.platform)
        let stateDirectory = stateDir ?? AgentServiceDefinition.defaultStateDirectory(kind)
        let definition = AgentServiceDefinition(kind: kind, executable: executable ?? ServiceHost.currentExecutable(), stateDirectory: stateDirectory)
        let text = try definition.render()
        if print {
            FileHandle.standardOutput.write(Data(text.utf8))
            return
        }
        // A service without an enrollment would fail at every start: enroll first.
        let state = AgentStateDirectory(path: stateDirectory)
        guard (try? state.enrollment()) != nil else {
            throw ServiceHost.failure("\(stateDirectory) holds no enrollment; run `palisade agent enroll --state-dir \(stateDirectory)` first")
        }
        let target = directory ?? AgentServiceDefinition.defaultDirectory(kind)
        let path = URL(fileURLWithPath: target).appendingPathComponent(definition.fileName).path
        do {
            try AtomicFile.createDirectory(target, mode: 0o755)
            try AtomicFile.write(Array(text.utf8), to: path, mode: 0o644)
        } catch {
            throw ServiceHost.failure("cannot write \(path): \(error) (run as root or Administrator)")
        }
        Swift.print("Wrote \(path).")
        guard !noActivate else { return }
        for command in definition.activationCommands(path: path) {
            try await ServiceHost.execute(command)
        }
        Swift.print("The agent runs as a service (\(kind.rawValue)); `palisade agent status --state-dir \(stateDirectory)` shows its health.")
    }
}

struct UninstallService: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "uninstall-service",
        abstract: "Stop the agent's service and remove its definition (the state directory is kept).")

    @Option(help: "The platform whose service to remove: linux, macos, windows (default: this one).")
    var platform: DevicePlatform?
    @Option(help: ArgumentHelp("Where the definition was installed (default: the platform's).", valueName: "directory"))
    var directory: String?
    @Flag(help: "Remove the file but do not run the service manager's commands (stop, disable).")
    var noActivate = false

    func run() async throws {
        let kind = AgentServiceDefinition.kind(for: platform ?? ServiceHost.platform)
        let definition = AgentServiceDefinition(kind: kind, executable: "", stateDirectory: "")
        let path = URL(fileURLWithPath: directory ?? AgentServiceDefinition.defaultDirectory(kind)).appendingPathComponent(definition.fileName).path
        guard AtomicFile.exists(path) else {
            throw ServiceHost.failure("no agent service is installed at \(path)")
        }
        if !noActivate {
            for command in definition.deactivationCommands(path: path) { try await ServiceHost.execute(command) }
        }
        do {
            try AtomicFile.remove(path)
        } catch {
            throw ServiceHost.failure("cannot remove \(path): \(error)")
        }
        if !noActivate {
            for command in definition.cleanupCommands { try await ServiceHost.execute(command) }
        }
        Swift.print("Removed \(path).")
    }
}

enum ServiceHost {
    static var platform: DevicePlatform {
        #if os(macOS)
        .macos
        #elseif os(Windows)
        .windows
        #else
        .linux
        #endif
    }

    static func currentExecutable() -> String {
        let argument = CommandLine.arguments.first ?? "palisade"
        return URL(fileURLWithPath: argument).standardizedFileURL.resolvingSymlinksInPath().path
    }

    static func failure(_ message: String) -> ExitCode {
        FileHandle.standardError.write(Data("error: \(message)\n".utf8))
        return ExitCode.failure
    }

    /// Runs a service manager's command, found on the PATH, with this process's output and
    /// errors (swift-subprocess, as the agent runs its tools); its failure is the command's.
    static func execute(_ command: [String]) async throws {
        guard let executable = CommandRunner().locate(command[0]) else {
            throw failure("\(command[0]) was not found on the PATH; run by hand: \(command.joined(separator: " "))")
        }
        let result = try await Subprocess.run(
            .path(FilePath(executable)), arguments: Arguments(Array(command.dropFirst())),
            output: .currentStandardOutput, error: .currentStandardError)
        guard case .exited(0) = result.terminationStatus else {
            throw failure("`\(command.joined(separator: " "))` failed (\(result.terminationStatus))")
        }
    }
}
