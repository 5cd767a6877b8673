import Foundation

/// `palisade-bench [engine|server|reports|back-to-back] [--devices N] [--groups N] [--policies N] [--changes N] [--database URL]`
///
/// Seeded synthetic tenants (see `SyntheticTenant`); figures are recorded in BENCHMARKS.md.
/// `engine` measures the directory engine alone; `server` measures the same operations
/// through the store (directory engine, SQL write transaction, batched writes) on a SQLite
/// file in a temporary directory, or on the PostgreSQL database given with `--database`.
/// `reports` measures issue 10's reports (summary, filtered pages, settings report, CSV export).
/// `back-to-back` times changes a second apart reaching one running agent (issue 12).
/// `ceiling` serves the bare Hummingbird endpoint of the delivery benchmark (`CeilingServer`).
/// `checkin-seed` and `checkin-sign` prepare scripts/bench-checkin.sh (see `CheckInRequests`).
@main
struct PalisadeBench {
    static func main() async throws {
        var arguments = Array(CommandLine.arguments.dropFirst())
        func option(_ name: String) -> String? {
            guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count else { return nil }
            defer { arguments.removeSubrange(index...index + 1) }
            return arguments[index + 1]
        }
        let deviceCount = option("--devices").flatMap(Int.init) ?? 100_000
        let groupCount = option("--groups").flatMap(Int.init) ?? 1_000
        let policyCount = option("--policies").flatMap(Int.init) ?? 200
        let database = option("--database")
        let changeCount = option("--changes").flatMap(Int.init) ?? 20
        let mode = arguments.first ?? "engine"

        func tenant() throws -> SyntheticTenant { try SyntheticTenant(devices: deviceCount, groups: groupCount, policies: policyCount) }
        switch mode {
        case "engine":
            try EngineBenchmark.run(try tenant(), phases: ProcessInfo.processInfo.environment["BENCH_PHASES"] != nil)
        case "server":
            try await ServerBenchmark.run(try tenant(), databaseURL: database)
        case "ceiling":
            try await CeilingServer.run(arguments: arguments)
        case "reports":
            try await ReportsBenchmark.run(devices: deviceCount, databaseURL: database)
        case "back-to-back":
            try await BackToBackBenchmark.run(changes: changeCount, databaseURL: database)
        case "checkin-seed":
            try await CheckInRequests.seed(dataDirectory: option("--data-dir") ?? ".", devices: deviceCount, out: option("--out") ?? "devices.json")
        case "checkin-profile":
            try await CheckInProfile.run()
        case "checkin-sign":
            try await CheckInRequests.sign(devicesFile: option("--devices-file") ?? "devices.json", requests: option("--requests").flatMap(Int.init) ?? 100_000,
                                           waitSeconds: option("--wait-seconds").flatMap(Int.init) ?? 0, out: option("--out") ?? "requests.tsv")
        default:
            FileHandle.standardError.write(Data("palisade-bench: unknown mode \"\(mode)\"; use engine, server, reports, back-to-back, ceiling, checkin-seed, checkin-sign or checkin-profile\n".utf8))
            exit(2)
        }
    }
}
