import Foundation
import Hummingbird
import Logging
import PalisadeCore
import PalisadeSupport
import ServiceLifecycle
import UnixSignals

/// How `palisade serve` secures its listener, from the command line.
public struct ServeTLSOptions: Sendable {
    /// `--insecure-http`: plain HTTP, for a server behind a TLS-terminating proxy.
    public var insecureHTTP: Bool
    /// `--tls-cert`, `--tls-key`: an admin's own certificate chain (PEM, leaf first) and key.
    public var certificateFile: String?
    public var keyFile: String?
    /// `--tls-ca`: the CA onboarding packages pin (default: the generated CA, or the last
    /// certificate of `--tls-cert`).
    public var caFile: String?
    /// `--san`: names of the generated server certificate besides localhost and 127.0.0.1.
    public var subjectAltNames: [String]

    public init(insecureHTTP: Bool = false, certificateFile: String? = nil, keyFile: String? = nil, caFile: String? = nil, subjectAltNames: [String] = []) {
        self.insecureHTTP = insecureHTTP
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        self.caFile = caFile
        self.subjectAltNames = subjectAltNames
    }
}

/// `palisade serve`: opens the store, migrates it, creates the first tenant on an empty store,
/// sets up TLS (the private CA in DATA_DIR/tls unless told otherwise), then serves until
/// SIGTERM/SIGINT.
public enum PalisadeServerRunner {
    public static func run(_ configuration: ServerConfiguration, tls options: ServeTLSOptions = .init(), databasePassword: String? = nil, logger: Logger) async throws {
        var configuration = configuration
        let location = try DatabaseLocation.from(databaseURL: configuration.databaseURL, dataDirectory: configuration.dataDirectory, databasePassword: databasePassword)
        if let directory = configuration.dataDirectory {
            try prepareDataDirectory(directory, logger: logger)
        }
        try prepareTLS(&configuration, options: options, logger: logger)
        let openFiles = raiseOpenFileLimit()
        logger.info("open-file limit \(openFiles.soft) (hard limit \(openFiles.hard)): each held long-poll is an open connection")
        let backend = try await Database.open(location, logger: logger)
        try await Database.closing(backend) {
            let store = PalisadeStore(backend: backend, logger: logger)
            let application = try buildApplication(store: store, configuration: configuration, logger: logger)
            // The database's client (PostgreSQL) first: it runs while the store is migrated and
            // served, and stops last, once the server and its services have stopped.
            try await runUntilStopped(Database.services(for: backend)
                + [MigratedServer(store: store, application: application, dataDirectory: configuration.dataDirectory)], logger: logger)
        }
    }

    /// How long SIGTERM/SIGINT wait for in-flight requests (held long-polls end at once), and
    /// then for cancelled work, before the process is stopped regardless: an unreachable
    /// database must not keep a server that was told to stop running.
    static let gracefulStopLimit: Duration = .seconds(6)
    static let cancellationLimit: Duration = .seconds(2)

    /// Hummingbird's `runService()` for `services` (in the order they depend on each other)
    /// with limits on how long stopping may take. The last limit is `StopDeadline`'s, not
    /// ServiceLifecycle's: that one ends the process with a fatal error (SIGILL, and a
    /// backtrace that took 30 s to print with 19,900 held long-polls).
    static func runUntilStopped(_ services: [any Service], logger: Logger) async throws {
        let deadline = StopDeadline(limit: gracefulStopLimit + cancellationLimit, logger: logger)
        // Services stop in reverse order: the deadline is armed first.
        var group = ServiceGroupConfiguration(services: services + [deadline], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        group.maximumGracefulShutdownDuration = gracefulStopLimit
        group.maximumCancellationDuration = nil
        try await ServiceGroup(configuration: group).run()
    }

    /// Raises the soft limit on open files to the hard limit (as Go's runtime does): every held
    /// long-poll is an open connection, and a soft limit of 1,024 (a common default, systemd's
    /// among them) would refuse connections past about a thousand devices. Returns the limits
    /// in force afterwards; the hard limit itself is the administrator's (`LimitNOFILE=`).
    @discardableResult
    public static func raiseOpenFileLimit() -> (soft: UInt64, hard: UInt64) {
        #if os(Linux)
        let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        #else
        let resource = RLIMIT_NOFILE
        #endif
        var limit = rlimit()
        guard getrlimit(resource, &limit) == 0 else { return (0, 0) }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            #if os(macOS)
            raised.rlim_cur = min(limit.rlim_max, rlim_t(OPEN_MAX))
            #endif
            if setrlimit(resource, &raised) == 0 { limit = raised }
        }
        return (UInt64(limit.rlim_cur), UInt64(limit.rlim_max))
    }

    /// The data directory holds the database, the admin token and the CA key: mode 0700.
    static func prepareDataDirectory(_ directory: String, logger: Logger) throws {
        try AtomicFile.createDirectory(directory, mode: 0o700)
        if let mode = (try? FileManager.default.attributesOfItem(atPath: directory))?[.posixPermissions] as? Int, mode & 0o077 != 0 {
            logger.warning("the data directory is readable by other users; it holds the database, the admin token and the CA key (chmod 700 it)",
                           metadata: ["directory": "\(directory)"])
        }
    }

    /// Fills in `configuration.tls` and `agentCA` from the options, and prints the fingerprint
    /// of the CA agents pin.
    static func prepareTLS(_ configuration: inout ServerConfiguration, options: ServeTLSOptions, logger: Logger) throws {
        if options.insecureHTTP {
            configuration.tls = nil
            configuration.agentCA = try options.caFile.map { try PinnedCA(certificatePEM: try ServerTLSFiles.text($0)) }
            logger.warning("serving plain HTTP (--insecure-http): run this only behind a TLS-terminating proxy; admin tokens and enrollment tokens cross the network in clear text otherwise")
            if let ca = configuration.agentCA {
                print("Onboarding packages pin the CA in \(options.caFile ?? "")")
                print("CA SHA-256 fingerprint: \(ca.sha256)")
            }
        } else if let certificateFile = options.certificateFile, let keyFile = options.keyFile {
            let loaded = try ServerTLSFiles.load(certificateFile: certificateFile, keyFile: keyFile, caFile: options.caFile)
            configuration.tls = loaded.tls
            configuration.agentCA = loaded.ca
            print("TLS: serving the certificate in \(certificateFile); onboarding packages pin \(options.caFile.map { "the CA in \($0)" } ?? "the last certificate of that chain")")
            print("CA SHA-256 fingerprint: \(loaded.ca.sha256)")
        } else {
            guard let dataDirectory = configuration.dataDirectory else {
                throw TLSSetupError("the private CA lives in the data directory: give --data-dir, or --tls-cert and --tls-key (one certificate for every replica), or --insecure-http behind a TLS-terminating proxy")
            }
            let directory = URL(fileURLWithPath: dataDirectory).appendingPathComponent("tls").path
            let prepared = try ServerTLSFiles.prepare(directory: directory, subjectAltNames: options.subjectAltNames)
            for warning in prepared.warnings { logger.warning("\(warning)") }
            configuration.tls = prepared.tls
            configuration.agentCA = try options.caFile.map { try PinnedCA(certificatePEM: try ServerTLSFiles.text($0)) } ?? prepared.ca
            let names = try PrivateCertificateAuthority.normalizedSubjectAltNames(options.subjectAltNames)
            print("TLS: \(prepared.createdCA ? "created a private CA" : "private CA") in \(directory)/\(ServerTLSFiles.caCertificateFile)")
            if let reason = prepared.issuedServerCertificate {
                print("TLS: issued a server certificate for \(names.joined(separator: ", ")) (\(reason)), valid until \(prepared.serverCertificateExpires.ISO8601Format())")
            } else {
                print("TLS: server certificate for \(names.joined(separator: ", ")), valid until \(prepared.serverCertificateExpires.ISO8601Format())")
            }
            print("CA SHA-256 fingerprint: \(prepared.ca.sha256)")
            // A wildcard listener has no name of its own for packages: the first --san is one.
            if configuration.publicURL == nil, ["0.0.0.0", "::"].contains(configuration.host), let first = options.subjectAltNames.first {
                configuration.publicURL = "https://\(first.contains(":") ? "[\(first)]" : first):\(configuration.port)"
            }
        }
        fflush(nil)
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

/// `palisade serve`'s store and server: migrates the store, creates the first tenant of an
/// empty one, then runs the application (the HTTP server and its services) until the group
/// stops. A service of its own, after the database's client in the group, so that the client
/// runs meanwhile (the migrations are its first users).
struct MigratedServer<App: ApplicationProtocol>: Service {
    let store: PalisadeStore
    let application: App
    let dataDirectory: String?

    func run() async throws {
        try await store.migrate()
        if let credentials = try await store.bootstrapIfEmpty() {
            try PalisadeServerRunner.announce(credentials, dataDirectory: dataDirectory)
        }
        // Told to stop while migrating: there is nothing to serve.
        guard !Task.isShuttingDownGracefully else { return }
        try await application.run()
    }
}

/// Ends the process `limit` after a stop was asked for, if it has not ended by then: answering
/// tens of thousands of held long-polls over TLS can take longer than the graceful limit on a
/// small machine, and those still open are then cut (agents retry; what was acknowledged is
/// stored, see the crash test). A plain thread, so that it fires even when every task is busy.
struct StopDeadline: Service {
    let limit: Duration
    let logger: Logger
    /// What ends the process (tests pass a recorder).
    var endProcess: @Sendable () -> Void = {
        fflush(nil)  // every stream (the log goes to stderr)
        _exit(0)
    }

    func run() async throws {
        do {
            try await gracefulShutdown()
        } catch {
            return  // cancelled: the group is ending anyway
        }
        let (limit, logger, endProcess) = (self.limit, self.logger, self.endProcess)
        let seconds = Double(limit.components.seconds) + Double(limit.components.attoseconds) / 1e18
        Thread.detachNewThread {
            Thread.sleep(forTimeInterval: seconds)
            logger.warning("stopping took longer than \(limit): ending the process now; connections still open are cut")
            endProcess()
        }
    }
}
