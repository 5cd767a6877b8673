import Foundation
#if canImport(Glibc)
import Glibc
#endif
import NIOPosix
import Subprocess
import SystemPackage
import Testing

/// A PostgreSQL server of the test's own, which the test may stop and start (the shared test
/// server must never be stopped). Needs `PALISADE_TEST_PG_BIN`, the directory with initdb and
/// pg_ctl; as root (CI) the server runs as the `postgres` user, since initdb refuses root.
final class PrivatePostgres: Sendable {
    static var binDirectory: String? { ProcessInfo.processInfo.environment["PALISADE_TEST_PG_BIN"] }
    static var isAvailable: Bool { binDirectory.map { FileManager.default.isExecutableFile(atPath: $0 + "/pg_ctl") } ?? false }

    let directory: String
    let port: Int
    let bin: String
    var url: String { "postgres://palisade@127.0.0.1:\(port)/postgres?sslmode=disable" }

    init() async throws {
        bin = try #require(Self.binDirectory)
        directory = try TestServer.temporaryDirectory()
        port = try Self.freePort()
        if getuid() == 0 { try await Self.shell("chown postgres '\(directory)'") }
        try await run("'\(bin)/initdb' -D '\(directory)/data' -U palisade --auth=trust >/dev/null")
    }

    func start() async throws {
        try await run("'\(bin)/pg_ctl' -D '\(directory)/data' -l '\(directory)/server.log' -w -o \"-c listen_addresses=127.0.0.1 -p \(port) -k '\(directory)' -c fsync=off\" start >/dev/null")
    }

    /// `-m fast`: connections are closed at once, as when an administrator stops the server.
    func stop() async throws {
        try await run(stopCommand)
    }

    private var stopCommand: String { "'\(bin)/pg_ctl' -D '\(directory)/data' -m fast -w stop >/dev/null" }

    /// Stops the server (if it runs) and removes its files; blocking, for a `defer`.
    func remove() {
        _ = system(asPostgres(stopCommand))
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func asPostgres(_ command: String) -> String {
        getuid() == 0 ? "su postgres -s /bin/sh -c \(Self.quoted(command))" : command
    }

    private func run(_ command: String) async throws {
        try await Self.shell(asPostgres(command))
    }

    static func quoted(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'" }

    /// `sh -c command`, awaited without holding a thread (swift-subprocess): `system(3)` held
    /// one of the process's two cooperative threads through initdb's seconds, and Foundation's
    /// `waitUntilExit` was seen never to return once pg_ctl had started the server.
    static func shell(_ command: String) async throws {
        let result = try await Subprocess.run(.path(FilePath("/bin/sh")), arguments: ["-c", command], output: .discarded, error: .discarded)
        guard case .exited(0) = result.terminationStatus else {
            throw PrivatePostgresError(message: "`\(command)` ended with \(result.terminationStatus)")
        }
    }

    /// A port nobody listens on now (the kernel's pick for a socket bound to port 0).
    static func freePort() throws -> Int {
        let socket = try ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).wait()
        defer { try? socket.close().wait() }
        return try #require(socket.localAddress?.port)
    }
}

struct PrivatePostgresError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
