import Dispatch
import Foundation

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

    /// Foundation's `Process.run()` is not safe to call from several threads at once: the
    /// suite crashed inside it (a bad memcpy) with many simulated agents starting tools
    /// together. Starting is serialised; waiting for the tools is not.
    private static let spawning = NSLock()

    /// Runs `tool` with `arguments`; blocks the calling thread (callers run it on a thread pool).
    public func run(_ tool: String, _ arguments: [String]) -> Outcome {
        guard let executable = locate(tool) else { return .notFound(tool: tool) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        do {
            try Self.spawning.withLock { try process.run() }
        } catch {
            return .failedToStart(tool: tool, reason: "\(error)")
        }
        // Read on another thread so that a large answer never blocks the tool on a full pipe.
        let collected = CollectedOutput()
        let done = DispatchSemaphore(value: 0)
        let reader = output.fileHandleForReading
        DispatchQueue.global().async {
            collected.set(reader.readDataToEndOfFile())
            done.signal()
        }
        let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
        let deadline = DispatchTime.now() + seconds
        var finished = done.wait(timeout: deadline) == .success
        // Output closed: the tool should be exiting; give it until the same deadline.
        while finished, process.isRunning {
            if DispatchTime.now() >= deadline { finished = false; break }
            Thread.sleep(forTimeInterval: 0.005)
        }
        guard finished else {
            process.terminate()
            #if !os(Windows)
            let pid = process.processIdentifier
            DispatchQueue.global().asyncAfter(deadline: .now() + 2) { if process.isRunning { kill(pid, SIGKILL) } }
            #endif
            return .timedOut(tool: tool, after: timeout)
        }
        return .finished(status: process.terminationStatus, output: collected.data)
    }
}

private final class CollectedOutput: @unchecked Sendable {
    private let lock = NSLock()
    private var stored = Data()

    func set(_ data: Data) {
        lock.lock()
        stored = data
        lock.unlock()
    }

    var data: Data {
        lock.lock()
        defer { lock.unlock() }
        return stored
    }
}
