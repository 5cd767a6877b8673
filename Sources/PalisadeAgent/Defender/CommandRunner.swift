import Foundation
import Subprocess
import SystemPackage

/// Runs a device tool (`mdatp`, `powershell`) found on a search path, with a deadline: a tool
/// that hangs is terminated and reported as timed out, never waited on for ever.
public struct CommandRunner: Sendable {
    /// Directories searched for tools, in order (the agent's PATH unless given).
    public var searchPath: [String]
    public var timeout: Duration

    public init(searchPath: [String]? = nil, timeout: Duration = .seconds(10)) {
        self.searchPath = searchPath ?? Self.environmentPath()
        self.timeout = timeout
    }

    public enum Outcome: Sendable, Equatable {
        case finished(status: Int32, output: Data)
        case notFound(tool: String)
        case timedOut(tool: String, after: Duration)
        case failedToStart(tool: String, reason: String)
    }

    static func environmentPath() -> [String] {
        #if os(Windows)
        let separator: Character = ";"
        #else
        let separator: Character = ":"
        #endif
        return (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: separator).map(String.init)
    }

    /// The executable `tool` on the search path, or nil.
    public func locate(_ tool: String) -> String? {
        #if os(Windows)
        let names = [tool + ".exe", tool]
        #else
        let names = [tool]
        #endif
        for directory in searchPath where !directory.isEmpty {
            for name in names {
                let candidate = URL(fileURLWithPath: directory).appendingPathComponent(name).path
                if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            }
        }
        return nil
    }

    /// The most a tool may print (more fails the run): Defender's health is a few kilobytes.
    static let outputLimit = 4 * 1024 * 1024

    /// Runs `tool` with `arguments` (swift-subprocess: Foundation's `Process.run()` crashed the
    /// test suite in a memmove while other threads opened and closed descriptors, even with
    /// every start serialised). A tool still running at the deadline is killed.
    public func run(_ tool: String, _ arguments: [String]) async -> Outcome {
        guard let executable = locate(tool) else { return .notFound(tool: tool) }
        let timeout = self.timeout
        do {
            let result = try await Subprocess.run(
                .path(FilePath(executable)), arguments: Arguments(arguments),
                input: .none, output: .sequence, error: .discarded
            ) { execution -> Data? in
                // The output, or nil when the deadline came first (the tool is then killed).
                try await withThrowingTaskGroup(of: Data?.self) { group in
                    group.addTask {
                        var output = Data()
                        for try await buffer in execution.standardOutput {
                            buffer.withUnsafeBytes { output.append(contentsOf: $0) }
                            guard output.count <= Self.outputLimit else { throw OutputTooLarge() }
                        }
                        return output
                    }
                    group.addTask {
                        try await Task.sleep(for: timeout)
                        return nil
                    }
                    let first = try await group.next() ?? nil
                    group.cancelAll()
                    if first == nil { try? execution.send(signal: .kill, toProcessGroup: false) }
                    return first
                }
            }
            guard let output = result.closureResult else { return .timedOut(tool: tool, after: timeout) }
            switch result.terminationStatus {
            case .exited(let status): return .finished(status: Int32(status), output: output)
            case .signaled(let signal): return .finished(status: 128 + Int32(signal), output: output)
            }
        } catch is OutputTooLarge {
            return .failedToStart(tool: tool, reason: "it printed more than \(Self.outputLimit) bytes")
        } catch {
            return .failedToStart(tool: tool, reason: "\(error)")
        }
    }

    private struct OutputTooLarge: Error {}
}
