#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import NIOConcurrencyHelpers

/// Counters and latency samples of a simulation. Percentiles are exact, from every sample kept
/// sorted at read time (no HdrHistogram: a dependency change was not worth it for this).
public final class SimulationMetrics: Sendable {
    public struct Snapshot: Codable, Sendable {
        public var elapsedSeconds: Double
        public var enrolled: Int
        public var online: Int
        public var checkIns: Int
        public var unchangedCheckIns: Int
        public var reports: Int
        public var succeededReports: Int
        /// Devices that have had at least one report acknowledged.
        public var devicesReported: Int
        public var errors: Int
    }

    struct State {
        var started: ContinuousClock.Instant?
        var stopped: ContinuousClock.Instant?
        /// This process's CPU time (user + system) at the start and the end of the measurement.
        var cpuAtStart: Double?
        var cpuAtStop: Double?
        var enrolled = 0
        var online = 0
        var checkIns = 0
        var unchanged = 0
        var reports = 0
        var succeededReports = 0
        var reportingDevices = Set<Int>()
        var errors = 0
        var errorSamples: [String: Int] = [:]
        var enrollLatencies: [Double] = []
        var unchangedLatencies: [Double] = []
        var appliedLatencies: [Double] = []
        var firstEnrollAt: Double?
        var lastEnrollAt: Double?
        /// Per configuration hash: seconds since the Unix epoch at which each device's
        /// succeeded report of it was acknowledged.
        var succeededReportTimes: [String: [Double]] = [:]
    }

    let state = NIOLockedValueBox(State())

    public init() {}

    func markStarted() {
        let cpu = Self.processCPUSeconds()
        state.withLockedValue { $0.started = .now; $0.cpuAtStart = cpu }
    }

    func markStopped() {
        let cpu = Self.processCPUSeconds()
        state.withLockedValue { $0.stopped = .now; $0.cpuAtStop = cpu }
    }

    /// Ends a warm-up (`palisade simulate --warm-up`): check-in counts, cycle latencies, errors,
    /// elapsed time and CPU time start again from here; enrollments and reports are kept.
    public func restartMeasurement() {
        let cpu = Self.processCPUSeconds()
        state.withLockedValue {
            $0.started = .now
            $0.cpuAtStart = cpu
            $0.checkIns = 0
            $0.unchanged = 0
            $0.unchangedLatencies = []
            $0.appliedLatencies = []
            $0.errors = 0
        }
    }

    /// User plus system CPU time of this process so far (nil where getrusage is missing).
    static func processCPUSeconds() -> Double? {
        #if canImport(Glibc) || canImport(Darwin)
        var usage = rusage()
        #if canImport(Glibc)
        let who = __rusage_who_t(RUSAGE_SELF.rawValue)
        #else
        let who = RUSAGE_SELF
        #endif
        guard getrusage(who, &usage) == 0 else { return nil }
        func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
        #else
        return nil
        #endif
    }
    func adjustOnline(_ delta: Int) { state.withLockedValue { $0.online += delta } }

    func recordEnrollment(latency: Duration) {
        let now = Date().timeIntervalSince1970
        state.withLockedValue {
            $0.enrolled += 1
            $0.enrollLatencies.append(latency.seconds)
            $0.firstEnrollAt = $0.firstEnrollAt ?? now
            $0.lastEnrollAt = now
        }
    }

    /// A device that was enrolled by an earlier run (`reuseEnrolled`); not an enrollment rate sample.
    func recordReusedEnrollment() {
        state.withLockedValue { $0.enrolled += 1 }
    }

    func recordUnchanged(latency: Duration) {
        state.withLockedValue {
            $0.checkIns += 1
            $0.unchanged += 1
            $0.unchangedLatencies.append(latency.seconds)
        }
    }

    func recordApplied(device: Int, hash: String, sent: Bool, succeeded: Bool, latency: Duration) {
        let now = Date().timeIntervalSince1970
        state.withLockedValue {
            $0.checkIns += 1
            $0.appliedLatencies.append(latency.seconds)
            guard sent else { return }
            $0.reports += 1
            $0.reportingDevices.insert(device)
            if succeeded {
                $0.succeededReports += 1
                $0.succeededReportTimes[hash, default: []].append(now)
            }
        }
    }

    func recordError(_ description: String) {
        state.withLockedValue {
            $0.errors += 1
            let key = String(description.prefix(160))
            if $0.errorSamples.count < 20 || $0.errorSamples[key] != nil { $0.errorSamples[key, default: 0] += 1 }
        }
    }

    public func snapshot() -> Snapshot {
        state.withLockedValue { state in
            let elapsed = state.started.map { (state.stopped ?? .now) - $0 }?.seconds ?? 0
            return Snapshot(elapsedSeconds: elapsed, enrolled: state.enrolled, online: state.online, checkIns: state.checkIns,
                            unchangedCheckIns: state.unchanged, reports: state.reports, succeededReports: state.succeededReports, devicesReported: state.reportingDevices.count, errors: state.errors)
        }
    }

    /// Number of devices whose succeeded report of `hash` was acknowledged.
    public func succeededDevices(hash: String) -> Int {
        state.withLockedValue { $0.succeededReportTimes[hash]?.count ?? 0 }
    }

    public struct Latencies: Codable, Sendable, Equatable {
        public var count: Int
        public var p50Ms: Double?
        public var p90Ms: Double?
        public var p99Ms: Double?
        public var maxMs: Double?

        static func of(_ samples: [Double]) -> Latencies {
            let sorted = samples.sorted()
            func percentile(_ p: Double) -> Double? {
                guard !sorted.isEmpty else { return nil }
                let rank = Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1
                return (sorted[min(max(rank, 0), sorted.count - 1)] * 1000 * 1000).rounded() / 1000
            }
            return Latencies(count: sorted.count, p50Ms: percentile(50), p90Ms: percentile(90), p99Ms: percentile(99), maxMs: percentile(100))
        }
    }

    public struct Report: Codable, Sendable {
        public var summary: Snapshot
        public var enrollmentsPerSecond: Double?
        public var enrollLatency: Latencies
        /// Whole cycles the server answered "unchanged": the signed check-in plus the agent's
        /// own work around it (state files, inventory).
        public var unchangedCycleLatency: Latencies
        public var unchangedCheckInsPerSecond: Double
        /// Cycles that received a configuration: check-in, apply, report.
        public var appliedCycleLatency: Latencies
        public var succeededReportTimes: [String: [Double]]
        /// CPU time (user + system) of the whole simulator process over the measurement, and
        /// per check-in cycle: what the simulated agents cost their machine.
        public var processCPUSeconds: Double?
        public var cpuMillisecondsPerCheckIn: Double?
        public var errorSamples: [String: Int]
        public var percentileMethod: String
    }

    public func report() -> Report {
        let summary = snapshot()
        return state.withLockedValue { state in
            var enrollRate: Double?
            if let first = state.firstEnrollAt, let last = state.lastEnrollAt, state.enrolled > 1, last > first {
                enrollRate = Double(state.enrolled - 1) / (last - first)
            }
            let cpu = state.cpuAtStart.flatMap { start in (state.cpuAtStop ?? Self.processCPUSeconds()).map { $0 - start } }
            return Report(summary: summary, enrollmentsPerSecond: enrollRate, enrollLatency: .of(state.enrollLatencies),
                          unchangedCycleLatency: .of(state.unchangedLatencies),
                          unchangedCheckInsPerSecond: summary.elapsedSeconds > 0 ? Double(state.unchanged) / summary.elapsedSeconds : 0,
                          appliedCycleLatency: .of(state.appliedLatencies),
                          succeededReportTimes: state.succeededReportTimes.mapValues { $0.sorted() },
                          processCPUSeconds: cpu,
                          cpuMillisecondsPerCheckIn: cpu.flatMap { state.checkIns > 0 ? $0 * 1000 / Double(state.checkIns) : nil },
                          errorSamples: state.errorSamples,
                          percentileMethod: "exact, nearest-rank over every sample (no HdrHistogram)")
        }
    }
}

extension Duration {
    var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
