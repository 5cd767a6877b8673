import AsyncHTTPClient
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `palisade serve` as a process of its own (the binary built beside this test bundle), for what
/// only a real process shows: signals, a crash, a restart on the same data.
///
/// Spawned with `posix_spawn` and watched with `waitpid`, not Foundation's `Process`: with
/// other tests running `system(3)` meanwhile, `Process.isRunning` was seen to stay true after
/// the server had exited (its SIGCHLD-driven bookkeeping missed the exit).
final class ServeProcess: Sendable {
    let pid: pid_t
    let port: Int
    let dataDirectory: String
    /// What `start` was given beyond the data directory and port (e.g. `--database`).
    let arguments: [String]
    var baseURL: String { "http://127.0.0.1:\(port)" }

    static var executable: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("palisade").path
    }

    /// Starts `palisade serve --insecure-http` on `port` with `arguments` added, its output in
    /// `dataDirectory/../serve-<port>.log`, and waits until `/api/v1/ready` answers 200.
    static func start(dataDirectory: String, port: Int, arguments: [String] = []) async throws -> ServeProcess {
        let log = URL(fileURLWithPath: dataDirectory).deletingLastPathComponent().appendingPathComponent("serve-\(port).log").path
        let argv = [executable, "serve", "--insecure-http", "--port", String(port), "--data-dir", dataDirectory, "--log-level", "error"] + arguments
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var cArguments = argv.map { strdup($0) } + [nil]
        defer { for argument in cArguments { free(argument) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable, &actions, nil, &cArguments, environ)
        guard spawned == 0 else { throw ServeProcessError(message: "posix_spawn \(executable) failed with \(spawned)") }
        let server = ServeProcess(pid: pid, port: port, dataDirectory: dataDirectory, arguments: arguments)
        for _ in 0..<600 {
            if let status = server.exitStatus() {
                // The log's end in the message: the test's directory is removed when it fails.
                let tail = (try? String(contentsOfFile: log, encoding: .utf8)).map { String($0.suffix(2000)) } ?? "(no log)"
                throw ServeProcessError(message: "palisade serve exited with status \(status) while starting; its log ends:\n\(tail)")
            }
            let ready = try? await HTTPClient.shared.execute(HTTPClientRequest(url: server.baseURL + "/api/v1/ready"), timeout: .seconds(2))
            if ready?.status == .ok { return server }
            try await Task.sleep(for: .milliseconds(100))
        }
        server.signal(SIGKILL)
        throw ServeProcessError(message: "palisade serve did not become ready within a minute; see \(log)")
    }

    private init(pid: pid_t, port: Int, dataDirectory: String, arguments: [String]) {
        self.pid = pid
        self.port = port
        self.dataDirectory = dataDirectory
        self.arguments = arguments
    }

    /// A new process on the same data, port and arguments (after this one has exited).
    func restarted() async throws -> ServeProcess {
        try await Self.start(dataDirectory: dataDirectory, port: port, arguments: arguments)
    }

    /// The owner token the first start wrote.
    func adminToken() throws -> String {
        try String(contentsOfFile: dataDirectory + "/admin-token", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func signal(_ signal: Int32) { _ = Glibc.kill(pid, signal) }

    /// The wait status once the process has exited (and is reaped), nil while it runs.
    func exitStatus() -> Int32? {
        var status: Int32 = 0
        let result = waitpid(pid, &status, WNOHANG)
        return result == pid ? status : (result == -1 && errno == ECHILD ? -1 : nil)
    }

    /// Waits up to `limit` for the process to exit; how long it took, or nil if it still runs.
    func waitForExit(within limit: Duration) async throws -> Duration? {
        let clock = ContinuousClock()
        let started = clock.now
        while clock.now - started < limit {
            if exitStatus() != nil { return clock.now - started }
            try await Task.sleep(for: .milliseconds(20))
        }
        return nil
    }

    /// SIGKILL and reap: for cleanup on every path out of a test.
    func kill() {
        signal(SIGKILL)
        var status: Int32 = 0
        _ = waitpid(pid, &status, 0)
    }
}

struct ServeProcessError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
