import PalisadeCore
import SQLKit

/// The directory change log: `directory_versions` holds each tenant's version, and
/// `directory_changes` what each version touched, so that other replicas apply the same
/// changes (`DirectoryCatchUp`). The last 1,000 versions are kept; a replica further behind
/// loads the tenant again.
enum DirectoryChangeLog {
    static let retainedVersions: Int64 = 1_000

    /// Bumps the tenant's directory version and records what changed in it.
    static func append(_ changes: DirectoryChanges, version: Int64, tenant: String, on sql: any SQLDatabase) async throws {
        try await sql.raw("""
            INSERT INTO directory_versions (tenant_id, version) VALUES (\(bind: tenant), \(bind: version))
            ON CONFLICT (tenant_id) DO UPDATE SET version = excluded.version
            """).run()
        for chunk in changes.logEntries.chunked() {
            try await sql.raw(SQLQueryString.insert(
                "INSERT INTO directory_changes (tenant_id, version, kind, entity_id) VALUES ",
                rows: chunk.map { "(\(bind: tenant), \(bind: version), \(bind: $0.kind.rawValue), \(bind: $0.entityId))" })).run()
        }
        if version % 100 == 0 {
            try await sql.raw("DELETE FROM directory_changes WHERE tenant_id = \(bind: tenant) AND version <= \(bind: version - retainedVersions)").run()
        }
    }

    /// The logged changes with versions above `version`, kinds as stored.
    static func entries(tenant: String, after version: Int64, on sql: any SQLDatabase) async throws -> [LoggedDirectoryChange] {
        try await sql.raw("""
            SELECT version, kind, entity_id FROM directory_changes WHERE tenant_id = \(bind: tenant) AND version > \(bind: version)
            """).all().map {
            LoggedDirectoryChange(version: try $0.decode(column: "version", as: Int64.self), kind: try $0.string("kind"), entityId: try $0.string("entity_id"))
        }
    }
}
