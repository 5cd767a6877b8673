import Crypto
import Foundation
import Logging
import PalisadeAgent
import PalisadeCore
@testable import PalisadeServer
import Testing
import X509

/// The private CA and server certificate `palisade serve` keeps in DATA_DIR/tls, and an admin's
/// own certificate in their place: real keys and files.
@Suite struct ServerTLSFilesTests {
    @Test func theCAAndTheServerCertificateAreCreatedPrivateAndReused() throws {
        let data = try TestServer.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: data) }
        let directory = data + "/tls"
        let files = ["ca.pem", "ca-key.pem", "server.pem", "server-key.pem"].map { directory + "/" + $0 }

        let first = try ServerTLSFiles.prepare(directory: directory, subjectAltNames: ["palisade.example.com", "10.1.2.3"])
        #expect(first.createdCA)
        #expect(first.issuedServerCertificate != nil)
        #expect(try fileMode(directory) == 0o700)
        for file in files {
            #expect(try fileMode(file) == 0o600, "\(file)")
        }

        // The fingerprint agents pin is the SHA-256 of the CA certificate's DER, as OpenSSL prints it.
        let caPEM = try String(contentsOfFile: directory + "/ca.pem", encoding: .utf8)
        let der = try #require(PEMCertificates.derBlocks(in: caPEM).first)
        let expected = SHA256.hash(data: der).map { String(format: "%02X", $0) }.joined(separator: ":")
        #expect(first.ca.sha256 == expected)
        #expect(first.ca.sha256.count == 95)

        // What NIOSSL/BoringSSL and curl need: a CA that may sign, a server certificate that is
        // not a CA, for TLS server authentication, for the requested names and the defaults.
        let ca = try Certificate(pemEncoded: caPEM)
        let server = try Certificate(pemEncoded: try String(contentsOfFile: directory + "/server.pem", encoding: .utf8))
        #expect(try ca.extensions.basicConstraints == .isCertificateAuthority(maxPathLength: 0))
        #expect(try ca.extensions.keyUsage?.keyCertSign == true)
        #expect(try server.extensions.basicConstraints == .notCertificateAuthority)
        #expect(try server.extensions.keyUsage?.digitalSignature == true)
        #expect(try server.extensions.extendedKeyUsage?.contains(.serverAuth) == true)
        #expect(PrivateCertificateAuthority.subjectAltNames(of: server) == ["palisade.example.com", "10.1.2.3", "localhost", "127.0.0.1"])
        #expect(server.issuer == ca.subject)
        #expect(ca.publicKey.isValidSignature(server.signature, for: server))
        #expect(ca.notValidAfter.timeIntervalSinceNow > 9 * 365 * 86_400)
        #expect((300 * 86_400...366 * 86_400).contains(server.notValidAfter.timeIntervalSinceNow))
        #expect(P256.Signing.PublicKey(ca.publicKey) != nil, "P-256 keys")
        #expect(P256.Signing.PublicKey(server.publicKey) != nil)

        // A later start reuses all four files, byte for byte.
        let before = try files.map { try Data(contentsOf: URL(fileURLWithPath: $0)) }
        let second = try ServerTLSFiles.prepare(directory: directory, subjectAltNames: ["palisade.example.com", "10.1.2.3"])
        #expect(!second.createdCA)
        #expect(second.issuedServerCertificate == nil)
        #expect(second.ca == first.ca)
        #expect(try files.map { try Data(contentsOf: URL(fileURLWithPath: $0)) } == before)

        // Other names: a new server certificate from the same CA.
        let third = try ServerTLSFiles.prepare(directory: directory, subjectAltNames: ["other.example.com"])
        #expect(third.issuedServerCertificate?.contains("differ") == true)
        #expect(third.ca == first.ca)
        #expect(try Data(contentsOf: URL(fileURLWithPath: files[0])) == before[0], "the CA stays: agents pin it")
        #expect(try Data(contentsOf: URL(fileURLWithPath: files[2])) != before[2])
        let reissued = try Certificate(pemEncoded: try String(contentsOfFile: files[2], encoding: .utf8))
        #expect(PrivateCertificateAuthority.subjectAltNames(of: reissued) == ["other.example.com", "localhost", "127.0.0.1"])

        // Within 30 days of expiry: issued again at start.
        let later = Date().addingTimeInterval(340 * 86_400)
        let fourth = try ServerTLSFiles.prepare(directory: directory, subjectAltNames: ["other.example.com"], now: later)
        #expect(fourth.issuedServerCertificate?.contains("expires") == true)
        #expect(fourth.serverCertificateExpires > later.addingTimeInterval(300 * 86_400))

        // Permissions someone loosened are narrowed again, and said so.
        chmod(directory + "/ca-key.pem", 0o644)
        let fifth = try ServerTLSFiles.prepare(directory: directory, subjectAltNames: ["other.example.com"])
        #expect(try fileMode(directory + "/ca-key.pem") == 0o600)
        #expect(fifth.warnings.contains { $0.contains("ca-key.pem") })
    }

    @Test func aMissingCAKeyStopsTheServerInsteadOfReplacingTheCA() throws {
        let data = try TestServer.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: data) }
        _ = try ServerTLSFiles.prepare(directory: data + "/tls", subjectAltNames: [])
        try FileManager.default.removeItem(atPath: data + "/tls/ca-key.pem")
        do {
            _ = try ServerTLSFiles.prepare(directory: data + "/tls", subjectAltNames: [])
            Issue.record("a CA without its key was replaced silently")
        } catch let error as TLSSetupError {
            #expect(error.description.contains("ca-key.pem does not"))
        }
    }

    @Test func subjectAltNamesAreCheckedAndNormalized() throws {
        #expect(try PrivateCertificateAuthority.normalizedSubjectAltNames(["Palisade.Example.COM", "*.corp.example", "::1", "10.0.0.1", "localhost"])
                == ["palisade.example.com", "*.corp.example", "::1", "10.0.0.1", "localhost", "127.0.0.1"])
        for bad in ["not a name", "under_score.example", "-lead.example", "", "a..b", "https://x.example"] {
            #expect(throws: PrivateCertificateAuthority.InvalidName.self, "\(bad)") {
                try PrivateCertificateAuthority.normalizedSubjectAltNames([bad])
            }
        }
    }

    @Test(arguments: StoreEngine.available)
    func anAdminsOwnCertificateIsServedAndPinned(engine: StoreEngine) async throws {
        // The admin's own CA and a certificate for the server (e.g. one shared by replicas).
        let admin = try TestServer.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: admin) }
        let ca = try PrivateCertificateAuthority.makeCA(now: Date())
        let leaf = try PrivateCertificateAuthority.issueServerCertificate(subjectAltNames: ["127.0.0.1", "replicas.example.com"], ca: ca.certificate, caKey: ca.privateKey, now: Date())
        try (leaf.certificatePEM + ca.certificatePEM).write(toFile: admin + "/chain.pem", atomically: true, encoding: .utf8)
        try leaf.privateKeyPEM.write(toFile: admin + "/key.pem", atomically: true, encoding: .utf8)
        let adminCA = try PinnedCA(certificatePEM: ca.certificatePEM)

        // `palisade serve --tls-cert --tls-key`: nothing is generated; packages pin the chain's root.
        let data = try TestServer.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: data) }
        var configuration = ServerConfiguration(host: "127.0.0.1", port: 0, dataDirectory: data, databaseURL: nil)
        try PalisadeServerRunner.prepareTLS(&configuration, options: .init(certificateFile: admin + "/chain.pem", keyFile: admin + "/key.pem"), logger: TestServer.logger)
        #expect(!FileManager.default.fileExists(atPath: data + "/tls"))
        let tls = try #require(configuration.tls)
        #expect(configuration.agentCA == adminCA)

        // A key that is not the certificate's is refused at start.
        let stranger = try PrivateCertificateAuthority.makeCA(now: Date())
        try stranger.privateKeyPEM.write(toFile: admin + "/wrong-key.pem", atomically: true, encoding: .utf8)
        var wrong = ServerConfiguration(host: "127.0.0.1", port: 0, dataDirectory: data, databaseURL: nil)
        do {
            try PalisadeServerRunner.prepareTLS(&wrong, options: .init(certificateFile: admin + "/chain.pem", keyFile: admin + "/wrong-key.pem"), logger: TestServer.logger)
            Issue.record("a key that is not the certificate's was accepted")
        } catch let error as TLSSetupError {
            #expect(error.description.contains("is not the private key of the first certificate"))
        }

        let directory = try TestServer.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let location: DatabaseLocation = switch engine {
        case .sqlite: .sqlite(path: directory + "/palisade.sqlite")
        case .postgres: .postgres(url: try await TestServer.createPostgresDatabase())
        }
        try await Database.with(location, logger: TestServer.logger) { backend in
            let store = PalisadeStore(backend: backend, logger: TestServer.logger)
            try await store.migrate()
            let credentials = try #require(try await store.bootstrapIfEmpty())
            try await TestServer.serve(store, adminToken: credentials.ownerToken, directory: directory, tls: TestTLS(server: tls, ca: adminCA)) { server in
                let answer = try await server.api(.POST, "/api/v1/onboarding-packages", ["platform": "linux", "name": "lab", "expiresInHours": 1])
                #expect(answer["caSHA256"]?.stringValue == adminCA.sha256)
                let agent = try await TLSOnboardingTests.enrollFromPackage(server, name: "alpha", file: try TLSOnboardingTests.save(answer.body, in: directory))
                #expect(try agent.agent.state.enrollment()?.caSHA256 == adminCA.sha256)
                let group = try await server.createGroup("g", members: [agent.deviceId])
                let policy = try await server.createPolicy("AV", settings: ["cloudService.enabled": true])
                try await server.assign(policy, include: [group])
                try await agent.sync()
                #expect(try await server.report(policy)["summary"]?.objectValue?["succeeded"] == 1)
            }
        }
    }

    @Test func theGeneratedCertificateIsTheDefaultAndNeedsADataDirectory() throws {
        var configuration = ServerConfiguration(host: "127.0.0.1", port: 0, dataDirectory: nil, databaseURL: "postgres://palisade@127.0.0.1/x")
        #expect(throws: TLSSetupError.self) {
            try PalisadeServerRunner.prepareTLS(&configuration, options: .init(), logger: TestServer.logger)
        }
        var insecure = configuration
        try PalisadeServerRunner.prepareTLS(&insecure, options: .init(insecureHTTP: true), logger: TestServer.logger)
        #expect(insecure.tls == nil)
        #expect(insecure.listenerURL(port: 8080) == "http://127.0.0.1:8080")

        let data = try TestServer.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: data) }
        var generated = ServerConfiguration(host: "0.0.0.0", port: 8443, dataDirectory: data + "/data", databaseURL: nil)
        try PalisadeServerRunner.prepareDataDirectory(data + "/data", logger: TestServer.logger)
        #expect(try fileMode(data + "/data") == 0o700)
        try PalisadeServerRunner.prepareTLS(&generated, options: .init(subjectAltNames: ["palisade.example.com"]), logger: TestServer.logger)
        #expect(generated.tls != nil)
        #expect(generated.publicURL == "https://palisade.example.com:8443", "a wildcard listener advertises its first --san")
        #expect(FileManager.default.fileExists(atPath: data + "/data/tls/ca.pem"))
    }
}

