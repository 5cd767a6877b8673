import Foundation
import Logging
import PalisadeCore
import SQLKit

extension DirectoryWriter {
    /// The tenant's directory version as committed (0 before its first change).
    static func directoryVersion(tenant: String, on sql: any SQLDatabase) async throws -> Int64 {
        try await sql.raw("SELECT version FROM directory_versions WHERE tenant_id = \(bind: tenant)").first()?.decode(column: "version", as: Int64.self) ?? 0
    }

    /// The leased index brought up to the database's directory version, as `DirectoryCatchUp`
    /// decides: used as is, caught up with the changes other replicas logged, or replaced by a
    /// load of the whole tenant. Runs under the tenant's write lock.
    func openDirectory(tenant: String, lease: DirectoryLease, on sql: any SQLDatabase) async throws -> DirectoryEdit {
        let version = try await Self.directoryVersion(tenant: tenant, on: sql)
        // Taken out of the lease, the index has one owner: catching up mutates it in place.
        let cached = lease.take()
        var log: [LoggedDirectoryChange] = []
        if let cached, cached.version < version {
            log = try await DirectoryChangeLog.entries(tenant: tenant, after: cached.version, on: sql)
        }
        var decision = DirectoryCatchUp.decide(cachedVersion: cached?.version, currentVersion: version, log: log)
        if case .apply(let changes) = decision, var index = cached?.index {
            do {
                _ = try await apply(changes, to: &index, tenant: tenant, on: sql)
                return DirectoryEdit(tenant: tenant, index: index, version: version)
            } catch StoreError.corrupt(let problem) {
                decision = .reload(.applyFailed(problem))
            }
        }
        switch decision {
        case .useCached:
            if let cached { return DirectoryEdit(tenant: tenant, index: cached.index, version: version) }
        case .reload(.nothingCached), .apply:
            break
        case .reload(let reason):
            let level: Logger.Level = if case .unknownKind = reason { .error } else { .info }
            logger.log(level: level, "loading the tenant's directory", metadata: [
                "tenant": "\(tenant)", "reason": "\(reason)", "cached": "\(cached?.version ?? -1)", "current": "\(version)",
            ])
        }
        let started = ContinuousClock.now
        let index = try await loadDirectory(tenant: tenant, on: sql)
        logger.info("loaded directory", metadata: [
            "tenant": "\(tenant)", "devices": "\(index.devices.count)", "groups": "\(index.groups.count)",
            "duration": "\(ContinuousClock.now - started)",
        ])
        return DirectoryEdit(tenant: tenant, index: index, version: version)
    }
}
