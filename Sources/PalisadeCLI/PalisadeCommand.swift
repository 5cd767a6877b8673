import ArgumentParser
import Foundation
import Logging
import PalisadeAgent
import PalisadeCore
import PalisadeServer
import ServiceLifecycle

@main
struct PalisadeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "palisade",
        abstract: "Manage Defender for Endpoint security settings of devices outside any MDM.",
        subcommands: [Serve.self, TenantCommand.self, UserCommand.self, DirectoryCommand.self, AgentCommand.self, SimulateCommand.self])

    /// Logs go to stderr so that stdout carries only what commands print for people and scripts.
    static func main() async {
        LoggingSystem.bootstrap(StreamLogHandler.standardError)
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}

struct LoggingOptions: ParsableArguments {
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    @Option(help: "Log format on stderr: text, or json (one JSON object per line, for log collectors).")
    var logFormat: String = "text"

    func makeLogger(label: String) throws -> Logger {
        guard let level = Logger.Level(rawValue: logLevel) else {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical; got \"\(logLevel)\"")
        }
        var logger: Logger
        switch logFormat {
        case "text": logger = Logger(label: label)
        case "json": logger = Logger(label: label) { JSONLogHandler(label: $0) }
        default: throw ValidationError("--log-format must be text or json; got \"\(logFormat)\"")
        }
        logger.logLevel = level
        return logger
    }
}

/// Where an administrative command finds the store, and opening it.
struct StoreOptions: ParsableArguments {
    @Option(help: "Data directory of an embedded (SQLite) server.")
    var dataDir: String?

    @Option(help: "postgres:// URL of a shared store.")
    var database: String?

    @OptionGroup var password: DatabasePasswordOptions

    @OptionGroup var logging: LoggingOptions

    /// Opens and migrates the store, runs `body`, closes the store.
    func withStore<T: Sendable>(_ body: @Sendable (PalisadeStore) async throws -> T) async throws -> T {
        let logger = try logging.makeLogger(label: "palisade.cli")
        let location = try DatabaseLocation.from(databaseURL: database, dataDirectory: dataDir, databasePassword: try password.resolve())
        return try await Database.with(location, logger: logger) { backend in
            let store = PalisadeStore(backend: backend, logger: logger)
            try await store.migrate()
            return try await body(store)
        }
    }
}

/// Where the PostgreSQL password comes from, so that it never shows in a process list:
/// `--database-password-file FILE` (first line), else `PALISADE_DATABASE_PASSWORD`, else the URL.
struct DatabasePasswordOptions: ParsableArguments {
    @Option(help: ArgumentHelp("File holding the PostgreSQL password (first line); replaces a password in --database.", valueName: "file"))
    var databasePasswordFile: String?

    func resolve() throws -> String? {
        do {
            return try DatabasePassword.resolve(file: databasePasswordFile, environment: ProcessInfo.processInfo.environment)
        } catch {
            throw ValidationError("\(error)")
        }
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the control plane (admin API and device protocol).")

    @Option(help: "Directory (mode 0700) for the embedded SQLite database, the first admin token and the private CA (tls/).")
    var dataDir: String?

    @Option(help: "Address to listen on.")
    var host: String = "127.0.0.1"

    @Option(help: "Port to listen on.")
    var port: Int = 8080

    @Option(help: "postgres://user@host:port/database to share one store between replicas (default: SQLite in --data-dir); give the password with PALISADE_DATABASE_PASSWORD or --database-password-file.")
    var database: String?

    @OptionGroup var password: DatabasePasswordOptions

    @Option(name: .customLong("san"), help: ArgumentHelp("A DNS name or IP address agents reach this server by (repeatable); the generated server certificate holds these, localhost and 127.0.0.1.", valueName: "name"))
    var subjectAltNames: [String] = []

    @Option(help: ArgumentHelp("Serve this certificate chain (PEM, leaf first) instead of the generated one, e.g. one certificate shared by replicas.", valueName: "file"))
    var tlsCert: String?

    @Option(help: ArgumentHelp("The private key of --tls-cert (PEM).", valueName: "file"))
    var tlsKey: String?

    @Option(help: ArgumentHelp("The CA certificate onboarding packages pin (default: the generated CA, or the last certificate of --tls-cert).", valueName: "file"))
    var tlsCa: String?

    @Flag(help: "Serve plain HTTP, only behind a TLS-terminating proxy (logs a warning at start).")
    var insecureHTTP = false

    @Option(help: ArgumentHelp("The URL agents reach this server at, put in onboarding packages (default: https://HOST:PORT of this listener).", valueName: "url"))
    var publicURL: String?

    @Flag(help: "Serve /metrics (Prometheus) without authentication, for a scraper on a trusted network; otherwise it needs an API token with readReports.")
    var metricsPublic = false

    @Option(help: ArgumentHelp("Enrollment attempts per minute from one source address before 429 (per replica; docs/SECURITY.md says what raising it costs).", valueName: "n"))
    var enrollmentRateLimit: Int = DeviceRateLimits.defaultEnrollmentsPerMinute

    @Option(help: ArgumentHelp("Check-ins and reports per minute from one device before 429 (per replica).", valueName: "n"))
    var deviceRateLimit: Int = DeviceRateLimits.defaultDeviceRequestsPerMinute

    @Option(help: ArgumentHelp("Tell agents the shortest time between two check-ins answered \"unchanged\" at once (0-3600; default: the agent's own, 5 s).", valueName: "seconds"))
    var checkInInterval: Int?

    @Option(help: ArgumentHelp("Tell agents how long each check-in may be held open (0-300; default: the agent's own, 60 s).", valueName: "seconds"))
    var longPollSeconds: Int?

    @Option(help: ArgumentHelp("Tell agents to come back after an outage at a random time within this window (1-3600), not all at once.", valueName: "seconds"))
    var returnWindow: Int?

    @OptionGroup var logging: LoggingOptions

    var checkInSchedule: DeviceProtocol.CheckInSchedule? {
        let schedule = DeviceProtocol.CheckInSchedule(checkInIntervalSeconds: checkInInterval, waitSeconds: longPollSeconds, returnWindowSeconds: returnWindow)
        return schedule.isEmpty ? nil : schedule
    }

    func validate() throws {
        guard enrollmentRateLimit >= 1 else { throw ValidationError("--enrollment-rate-limit must be at least 1 per minute, got \(enrollmentRateLimit)") }
        guard deviceRateLimit >= 1 else { throw ValidationError("--device-rate-limit must be at least 1 per minute, got \(deviceRateLimit)") }
        if let checkInInterval, !(0...DeviceProtocol.CheckInSchedule.maximumIntervalSeconds).contains(checkInInterval) {
            throw ValidationError("--check-in-interval must be from 0 to \(DeviceProtocol.CheckInSchedule.maximumIntervalSeconds) seconds, got \(checkInInterval)")
        }
        if let longPollSeconds, !(0...DeviceProtocol.maximumWaitSeconds).contains(longPollSeconds) {
            throw ValidationError("--long-poll-seconds must be from 0 to \(DeviceProtocol.maximumWaitSeconds), got \(longPollSeconds)")
        }
        if let returnWindow, !(1...DeviceProtocol.CheckInSchedule.maximumReturnWindowSeconds).contains(returnWindow) {
            throw ValidationError("--return-window must be from 1 to \(DeviceProtocol.CheckInSchedule.maximumReturnWindowSeconds) seconds, got \(returnWindow)")
        }
        if dataDir == nil && database == nil {
            throw ValidationError("give --data-dir DIR (embedded SQLite) or --database postgres://...")
        }
        guard (0...65535).contains(port) else { throw ValidationError("--port must be from 0 to 65535, got \(port)") }
        if (tlsCert == nil) != (tlsKey == nil) {
            throw ValidationError("--tls-cert and --tls-key go together")
        }
        if insecureHTTP && tlsCert != nil {
            throw ValidationError("--insecure-http serves plain HTTP: drop --tls-cert and --tls-key, or drop --insecure-http")
        }
        if !subjectAltNames.isEmpty && (tlsCert != nil || insecureHTTP) {
            throw ValidationError("--san names the generated certificate; it has no effect with --tls-cert or --insecure-http")
        }
        do {
            _ = try PrivateCertificateAuthority.normalizedSubjectAltNames(subjectAltNames)
        } catch {
            throw ValidationError("--san \(error)")
        }
        if let publicURL {
            guard let url = URL(string: publicURL), let scheme = url.scheme, ["http", "https"].contains(scheme), url.host != nil else {
                throw ValidationError("--public-url must be an http:// or https:// URL, got \"\(publicURL)\"")
            }
        }
    }

    func run() async throws {
        let logger = try logging.makeLogger(label: "palisade.server")
        var configuration = ServerConfiguration(host: host, port: port, dataDirectory: dataDir, databaseURL: database, publicURL: publicURL)
        configuration.metricsPublic = metricsPublic
        configuration.deviceRateLimits = DeviceRateLimits(enrollmentsPerMinute: enrollmentRateLimit, deviceRequestsPerMinute: deviceRateLimit)
        configuration.checkInSchedule = checkInSchedule
        let tls = ServeTLSOptions(insecureHTTP: insecureHTTP, certificateFile: tlsCert, keyFile: tlsKey, caFile: tlsCa, subjectAltNames: subjectAltNames)
        try await PalisadeServerRunner.run(configuration, tls: tls, databasePassword: try password.resolve(), logger: logger)
    }
}

struct TenantCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "tenant", abstract: "Manage tenants.", subcommands: [Create.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a tenant and print its owner API token.")

        @Argument(help: "The tenant's name.")
        var name: String

        @OptionGroup var store: StoreOptions

        func run() async throws {
            let name = self.name
            let credentials = try await store.withStore { store in try await store.createTenant(name: name) }
            print("Created tenant \"\(credentials.tenant.name)\" (\(credentials.tenant.id)).")
            print("Owner API token (shown once): \(credentials.ownerToken)")
        }
    }
}

struct DirectoryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "directory", abstract: "Maintain what the directory engine derives (effective configurations).", subcommands: [Rebuild.self])

    struct Rebuild: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: """
            Re-derive every device's effective configuration from devices, groups and policies, \
            and store what differs. Needed after importing or restoring data; routine changes never need it. \
            Safe while servers run: they reload their directory on their next change.
            """)

        @Option(help: "Only this tenant (its name); default every tenant.")
        var tenant: String?

        @OptionGroup var store: StoreOptions

        func run() async throws {
            let only = tenant
            try await store.withStore { store in
                let tenants = try await store.tenants().filter { only == nil || $0.name == only }
                guard !tenants.isEmpty else { throw ValidationError("no tenant named \"\(only ?? "")\"") }
                for tenant in tenants {
                    let rebuild = try await store.directory.rebuild(tenant: tenant.id)
                    print("\(tenant.name): \(rebuild.devices) devices, \(rebuild.groups) groups rebuilt in \(rebuild.duration.formatted(.units(allowed: [.seconds, .milliseconds])))")
                }
            }
        }
    }
}
