import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import PalisadeCore
import Testing

/// `palisade agent install-service`: the built executable prints or installs the service
/// definition of each platform; the systemd unit passes `systemd-analyze verify`, the launchd
/// plist parses with the expected structure.
@Suite struct AgentServiceTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let palisade = repository.appendingPathComponent(".build/debug/palisade").path
    /// What the service runs: this executable, symbolic links resolved.
    static let resolved = URL(fileURLWithPath: palisade).resolvingSymlinksInPath().path

    static func locate(_ tool: String) -> String? {
        (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map { "\($0)/\(tool)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Runs a program; returns its exit status, standard output and standard error. Through
    /// `system(3)` with the output in files, not Foundation's `Process`, whose `waitUntilExit`
    /// was seen never to return while other tests ran processes (see `ServeProcess`).
    static func run(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String, error: String) {
        let directory = try TestServer.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let command = ([executable] + arguments).map(PrivatePostgres.quoted).joined(separator: " ")
            + " >" + PrivatePostgres.quoted(directory + "/out") + " 2>" + PrivatePostgres.quoted(directory + "/err") + " </dev/null"
        let status = system(command)
        let exitStatus = (status >> 8) & 0xff
        return (exitStatus, try String(contentsOfFile: directory + "/out", encoding: .utf8), try String(contentsOfFile: directory + "/err", encoding: .utf8))
    }

    @Test(.enabled(if: locate("systemd-analyze") != nil, "systemd-analyze is not installed (Debian package systemd)"))
    func printedSystemdUnitPassesSystemdAnalyzeVerify() throws {
        let printed = try Self.run(Self.palisade, ["agent", "install-service", "--print", "--platform", "linux", "--state-dir", "/var/lib/palisade"])
        #expect(printed.status == 0, "\(printed.error)")
        let unit = printed.output
        for line in ["Restart=on-failure", "RestartPreventExitStatus=3", "NoNewPrivileges=yes", "ProtectSystem=strict",
                     "ReadWritePaths=/var/lib/palisade /etc/opt/microsoft/mdatp/managed", "WantedBy=multi-user.target",
                     "ExecStart=\(Self.resolved) agent run --state-dir /var/lib/palisade"] {
            #expect(unit.contains(line + "\n"), "the unit holds \(line)")
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("palisade-unit-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("palisade-agent.service").path
        try unit.write(toFile: path, atomically: true, encoding: .utf8)
        let verified = try Self.run(try #require(Self.locate("systemd-analyze")), ["verify", "--man=no", path])
        #expect(verified.status == 0 && verified.error.isEmpty && verified.output.isEmpty, "systemd-analyze verify: \(verified.output)\(verified.error)")

        // A unit it finds wrong fails the same check: the check can fail.
        let broken = directory.appendingPathComponent("broken.service").path
        try unit.replacingOccurrences(of: "Restart=on-failure", with: "Restart=sometimes").write(toFile: broken, atomically: true, encoding: .utf8)
        let refused = try Self.run(try #require(Self.locate("systemd-analyze")), ["verify", "--man=no", broken])
        #expect(!refused.error.isEmpty || refused.status != 0)
    }

    @Test func printedLaunchdPlistHasTheDaemonStructure() throws {
        let printed = try Self.run(Self.palisade, ["agent", "install-service", "--print", "--platform", "macos"])
        #expect(printed.status == 0, "\(printed.error)")
        let plist = try #require(try PropertyListSerialization.propertyList(from: Data(printed.output.utf8), format: nil) as? [String: Any])
        #expect(plist["Label"] as? String == "com.palisade.agent")
        #expect(plist["ProgramArguments"] as? [String] == [Self.resolved, "agent", "run", "--state-dir", "/Library/Application Support/Palisade/state"])
        #expect(plist["RunAtLoad"] as? Bool == true)
        #expect((plist["KeepAlive"] as? [String: Any])?["SuccessfulExit"] as? Bool == false, "restarted after a failure")
    }

    @Test func printedWindowsTaskRunsTheAgentAtBootAsSystem() throws {
        let printed = try Self.run(Self.palisade, ["agent", "install-service", "--print", "--platform", "windows", "--executable", "C:\\Program Files\\Palisade\\palisade.exe"])
        #expect(printed.status == 0, "\(printed.error)")
        let document = try XMLDocument(xmlString: printed.output)
        #expect(try document.nodes(forXPath: "//*[local-name()='BootTrigger']").count == 1)
        #expect(try document.nodes(forXPath: "//*[local-name()='UserId']").first?.stringValue == "S-1-5-18")
        #expect(try document.nodes(forXPath: "//*[local-name()='Command']").first?.stringValue == "C:\\Program Files\\Palisade\\palisade.exe")
        #expect(try document.nodes(forXPath: "//*[local-name()='Arguments']").first?.stringValue == "agent run --state-dir \"C:\\ProgramData\\Palisade\\state\"")
        #expect(try document.nodes(forXPath: "//*[local-name()='RestartOnFailure']/*[local-name()='Count']").first?.stringValue == "999")
    }

    @Test func installRefusesAStateDirectoryWithoutEnrollmentAndInstallsAndRemovesAnEnrolledOne() async throws {
        try await TestServer.with(.sqlite) { server in
            let target = server.directory + "/units"
            let bare = try Self.run(Self.palisade, ["agent", "install-service", "--state-dir", server.directory + "/nothing", "--directory", target, "--no-activate"])
            #expect(bare.status != 0)
            #expect(bare.error.contains("holds no enrollment"), "\(bare.error)")
            #expect(!FileManager.default.fileExists(atPath: target + "/palisade-agent.service"))

            _ = try await TestAgent.enroll(server, name: "svc", token: try await server.createEnrollmentToken())
            let state = server.directory + "/agents/svc/state"
            let installed = try Self.run(Self.palisade, ["agent", "install-service", "--platform", "linux", "--state-dir", state, "--directory", target, "--no-activate"])
            #expect(installed.status == 0, "\(installed.error)")
            let unit = try String(contentsOfFile: target + "/palisade-agent.service", encoding: .utf8)
            #expect(unit.contains("--state-dir \(state)"))
            let removed = try Self.run(Self.palisade, ["agent", "uninstall-service", "--platform", "linux", "--directory", target, "--no-activate"])
            #expect(removed.status == 0, "\(removed.error)")
            #expect(!FileManager.default.fileExists(atPath: target + "/palisade-agent.service"))
        }
    }
}
