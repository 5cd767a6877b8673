#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Logging
import PalisadeCore
@testable import PalisadeServer
@testable import PalisadeSupport
import SQLKit
import Testing

/// Secrets at rest and durable writes: atomic files that cannot be redirected, a SQLite writer
/// that syncs every commit, private data directories, and a PostgreSQL password that stays out
/// of URLs, messages and logs.
@Suite struct DurabilityAndSecretsTests {
    @Test func anAtomicWriteNeverFollowsAPlantedSymlinkAtItsTemporaryPath() throws {
        let directory = try TestServer.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let victim = directory + "/victim"
        try "precious".write(toFile: victim, atomically: false, encoding: .utf8)
        let target = directory + "/enrollment.json"

        // Someone who can write to the directory plants a symlink where a temporary file would go.
        let planted = target + ".palisade-tmp-planted"
        #expect(symlink(victim, planted) == 0)
        do {
            try AtomicFile.write(Array("evil".utf8), to: target, mode: 0o600, temporaryPath: planted)
            Issue.record("the write went through a planted symlink")
        } catch let error as AtomicFile.WriteError {
            #expect(error.errno == EEXIST, "O_CREAT | O_EXCL refuses an existing name, symlink or not")
            #expect(error.operation == "create")
        }
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "precious")
        #expect(!FileManager.default.fileExists(atPath: target))

        // Temporary names are unpredictable, so the planted link is never met by a real write.
        let names = Set((0..<1000).map { _ in AtomicFile.temporaryPath(for: target) })
        #expect(names.count == 1000)
        #expect(names.allSatisfy { $0.hasPrefix(target + ".palisade-tmp-") && $0.count == target.count + ".palisade-tmp-".count + 16 })
        try AtomicFile.write(Array("good".utf8), to: target, mode: 0o600)
        #expect(try String(contentsOfFile: target, encoding: .utf8) == "good")
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "precious")
        #expect(try fileMode(target) == 0o600)
        let left = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
        #expect(left == ["enrollment.json", "enrollment.json.palisade-tmp-planted", "victim"], "no temporary file left behind")

        // A symlink at the target itself is replaced, not written through.
        let linked = directory + "/linked.json"
        #expect(symlink(victim, linked) == 0)
        try AtomicFile.write(Array("new".utf8), to: linked, mode: 0o640)
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "precious")
        #expect(try FileManager.default.attributesOfItem(atPath: linked)[.type] as? FileAttributeType == .typeRegular)
        #expect(try fileMode(linked) == 0o640, "exactly the mode asked for")
    }

    @Test func theSQLiteWriterSyncsEveryCommitAndItsDirectoryIsPrivate() async throws {
        let directory = try TestServer.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let backend = try await SQLiteBackend.open(path: directory + "/data/palisade.sqlite", logger: TestServer.logger)
        #expect(try await backend.writerSynchronousLevel() == 2, "PRAGMA synchronous = FULL on the writer")
        try await backend.close()
        #expect(try fileMode(directory + "/data") == 0o700)
    }

    @Test func thePostgreSQLPasswordComesFromAFileOrTheEnvironmentAndIsNeverShown() async throws {
        let directory = try TestServer.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = directory + "/db-password"
        try "s3cret-from-file\n".write(toFile: file, atomically: true, encoding: .utf8)
        let environment = [DatabasePassword.environmentVariable: "s3cret-from-env"]
        #expect(try DatabasePassword.resolve(file: file, environment: environment) == "s3cret-from-file")
        #expect(try DatabasePassword.resolve(file: nil, environment: environment) == "s3cret-from-env")
        #expect(try DatabasePassword.resolve(file: nil, environment: [:]) == nil)
        try "\n".write(toFile: file + "-empty", atomically: true, encoding: .utf8)
        #expect(throws: StoreError.self) { try DatabasePassword.resolve(file: file + "-empty", environment: [:]) }

        // The given password replaces the URL's and reaches the connection configuration...
        let url = "postgres://palisade:url-secret@db.example.com:5432/palisade"
        let location = try DatabaseLocation.from(databaseURL: url, dataDirectory: nil, databasePassword: "s3cret-from-file")
        #expect(location == .postgres(url: url, password: "s3cret-from-file"))
        #expect(try PostgresBackend.configuration(url: url, password: "s3cret-from-file").password == "s3cret-from-file")
        #expect(try PostgresBackend.configuration(url: "postgres://palisade:url%20secret@db.example.com/palisade").password == "url secret")
        #expect(try PostgresBackend.configuration(url: "postgres://palisade@db.example.com/palisade").password == nil)

        // ...and never shows: not in the location's description, not in errors.
        let shown = [
            "\(location)", String(reflecting: location as any CustomStringConvertible),
            "\(try #require(DatabaseLocation.redacted(url) as String?))",
            Self.message { _ = try DatabaseLocation.from(databaseURL: "mysql://palisade:url-secret@db/x", dataDirectory: nil) },
            Self.message { _ = try PostgresBackend.configuration(url: "postgres://:url-secret@/x", password: "s3cret-from-file") },
            Self.message { _ = try PostgresBackend.configuration(url: "postgres://palisade:url-secret@db.example.com/x?sslmode=bogus", password: "s3cret-from-file") },
        ]
        for text in shown {
            #expect(!text.contains("url-secret") && !text.contains("s3cret"), "\(text)")
        }
        #expect("\(location)" == "postgres://palisade:***@db.example.com:5432/palisade")
        #expect(DatabaseLocation.redacted("postgres://palisade@db/x") == "postgres://palisade@db/x")
        #expect(DatabaseLocation.redacted("postgres://u:p@ss@db/x?sslmode=require") == "postgres://u:***@db/x?sslmode=require")

        // TLS to PostgreSQL: required (and verified) unless the server is on this host.
        #expect(PostgresBackend.sslMode(host: "db.example.com", requested: nil) == "require")
        #expect(PostgresBackend.sslMode(host: "10.0.0.5", requested: nil) == "require")
        #expect(PostgresBackend.sslMode(host: "127.0.0.1", requested: nil) == "prefer")
        #expect(PostgresBackend.sslMode(host: "localhost", requested: nil) == "prefer")
        #expect(PostgresBackend.sslMode(host: "::1", requested: nil) == "prefer")
        #expect(PostgresBackend.sslMode(host: "db.example.com", requested: "disable") == "disable")

        // On a real server, a password given apart from the URL is what the connection uses
        // (the test cluster trusts loopback, so this shows it is accepted, not that it is checked).
        if let adminURL = ProcessInfo.processInfo.environment["PALISADE_TEST_POSTGRES_URL"] {
            let one = try await Database.with(.postgres(url: adminURL, password: "s3cret-from-file"), logger: TestServer.logger) { backend in
                try await backend.read { sql in try await sql.raw("SELECT 1 AS one").first()?.decode(column: "one", as: Int.self) }
            }
            #expect(one == 1)
        }
    }

    static func message(_ body: () throws -> Void) -> String {
        do {
            try body()
            return ""
        } catch {
            return "\(error) \(String(reflecting: error))"
        }
    }
}
