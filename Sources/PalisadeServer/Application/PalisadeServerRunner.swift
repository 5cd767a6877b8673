import Foundation
import Hummingbird
import Logging
import PalisadeCore
import PalisadeSupport

/// `palisade serve`: opens the store, migrates it, creates the first tenant on an empty store,
/// then serves until SIGTERM/SIGINT.
public enum PalisadeServerRunner {
    public static func run(_ configuration: ServerConfiguration, databasePassword: String? = nil, logger: Logger) async throws {
        let location = try DatabaseLocation.from(databaseURL: configuration.databaseURL, dataDirectory: configuration.dataDirectory, databasePassword: databasePassword)
        if let directory = configuration.dataDirectory {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        try await Database.with(location, logger: logger) { backend in
            let store = PalisadeStore(backend: backend, logger: logger)
            try await store.migrate()
            if let credentials = try await store.bootstrapIfEmpty() {
                try announce(credentials, dataDirectory: configuration.dataDirectory)
            }
            try await buildApplication(store: store, configuration: configuration, logger: logger).runService()
        }
    }

    /// Prints the first owner token once and keeps it in DIR/admin-token (mode 0600).
    static func announce(_ credentials: TenantCredentials, dataDirectory: String?) throws {
        print("Created tenant \"\(credentials.tenant.name)\" (\(credentials.tenant.id)).")
        print("Owner API token (shown once): \(credentials.ownerToken)")
        if let dataDirectory {
            let path = URL(fileURLWithPath: dataDirectory).appendingPathComponent("admin-token").path
            try AtomicFile.write(Data((credentials.ownerToken + "\n").utf8), to: path, mode: 0o600)
            print("The token is also in \(path) (mode 0600).")
        }
        fflush(nil)
    }
}
