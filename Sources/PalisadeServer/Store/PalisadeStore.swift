import Foundation
import Logging
import PalisadeCore
import SQLKit

/// Palisade's data: tenants, tokens, devices, groups, policies, configurations and reports.
/// Every query is scoped by tenant. Mutations that can change what devices receive recompute
/// the affected devices' effective configurations in the same transaction, then wake their
/// long-polls once the transaction has committed.
public struct PalisadeStore: Sendable {
    public let backend: any DatabaseBackend
    public let catalog: SettingCatalog
    public let notifier: ConfigurationChangeNotifier
    let logger: Logger

    public init(backend: any DatabaseBackend, catalog: SettingCatalog = .standard, notifier: ConfigurationChangeNotifier = ConfigurationChangeNotifier(), logger: Logger) {
        self.backend = backend
        self.catalog = catalog
        self.notifier = notifier
        self.logger = logger
    }

    var resolver: EffectiveConfigurationResolver { EffectiveConfigurationResolver(catalog: catalog) }

    /// Applies pending migrations.
    @discardableResult
    public func migrate() async throws -> [Int] {
        try await Migrations.apply(on: backend, logger: logger)
    }

    func read<T: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        try await backend.read(body)
    }

    /// A write transaction for one tenant. `body` returns its result and the devices whose
    /// configuration changed; their long-polls are woken after commit, here and (PostgreSQL)
    /// on every other replica.
    func write<T: Sendable>(tenant: String, _ body: @Sendable (any SQLDatabase) async throws -> (T, Set<String>)) async throws -> T {
        let backend = self.backend
        let (result, changed) = try await backend.write(lockKey: "tenant:\(tenant)") { sql in
            let (result, changed) = try await body(sql)
            try await backend.announceConfigurationChanges(changed, on: sql)
            return (result, changed)
        }
        if !changed.isEmpty {
            await notifier.notify(changed)
        }
        return result
    }
}

extension SQLRow {
    func string(_ column: String) throws -> String { try decode(column: column, as: String.self) }
    func optionalString(_ column: String) throws -> String? { try decode(column: column, as: String?.self) }
    func int(_ column: String) throws -> Int { try decode(column: column, as: Int.self) }
    func optionalInt(_ column: String) throws -> Int? { try decode(column: column, as: Int?.self) }
    func millis(_ column: String) throws -> Int64 { try decode(column: column, as: Int64.self) }
    func optionalMillis(_ column: String) throws -> Int64? { try decode(column: column, as: Int64?.self) }

    func json<T: Decodable>(_ column: String, as type: T.Type) throws -> T {
        let text = try string(column)
        do {
            return try CanonicalJSON.decode(type, from: text)
        } catch {
            throw StoreError.corrupt("column \(column): \(error)")
        }
    }
}

extension Array where Element: Sendable {
    /// Splits long IN lists so that no statement exceeds the engines' parameter limits.
    func chunked(_ size: Int = 500) -> [[Element]] {
        stride(from: 0, to: count, by: size).map { Array(self[$0..<Swift.min($0 + size, count)]) }
    }
}

func encodeJSON<T: Encodable>(_ value: T) throws -> String {
    try CanonicalJSON.string(value)
}
