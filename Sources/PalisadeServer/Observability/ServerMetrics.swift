import CoreMetrics
import Foundation
import Metrics
import Prometheus

/// The series `/metrics` exposes, recorded through swift-metrics into a Prometheus registry
/// that belongs to this server (one per store), so that many servers in one process (the
/// tests) never share counters and nothing bootstraps the global `MetricsSystem`.
///
/// Every label value comes from a bounded set: outcomes and error codes are constants, routes
/// are the router's templates (`/api/v1/devices/{id}`), never a request's own path.
public final class ServerMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    private let factory: PrometheusMetricsFactory
    private let longPollsHeld: CoreMetrics.Gauge
    private let reportsIngested: CoreMetrics.Counter
    private let recomputeDurations: CoreMetrics.Timer

    public init() {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        let secondsBuckets: [Duration] = [.milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
                                          .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10)]
        factory.defaultDurationHistogramBuckets = secondsBuckets
        self.registry = registry
        self.factory = factory
        longPollsHeld = CoreMetrics.Gauge(label: "palisade_long_polls_held", factory: factory)
        reportsIngested = CoreMetrics.Counter(label: "palisade_reports_ingested_total", factory: factory)
        recomputeDurations = CoreMetrics.Timer(label: "palisade_recompute_duration_seconds", factory: factory)
    }

    /// `outcome`: `unchanged` or `changed`.
    public func checkIn(outcome: String) {
        CoreMetrics.Counter(label: "palisade_check_ins_total", dimensions: [("outcome", outcome)], factory: factory).increment()
    }

    /// `outcome`: `enrolled`, `pending_approval`, or the refusal's error code.
    public func enrollment(outcome: String) {
        CoreMetrics.Counter(label: "palisade_enrollments_total", dimensions: [("outcome", outcome)], factory: factory).increment()
    }

    public func reportIngested() { reportsIngested.increment() }

    public func recomputed(devices: Int, duration: Duration) {
        recomputeDurations.recordNanoseconds(Int64(duration.components.seconds) * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000)
    }

    /// One answered request: `route` is the matched template (or `unmatched`).
    public func request(method: String, route: String, status: Int, duration: Duration) {
        let dimensions = [("method", method), ("route", route), ("status", String(status))]
        CoreMetrics.Counter(label: "palisade_http_requests_total", dimensions: dimensions, factory: factory).increment()
        CoreMetrics.Timer(label: "palisade_http_request_duration_seconds", dimensions: [("method", method), ("route", route)], factory: factory)
            .recordNanoseconds(Int64(duration.components.seconds) * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000)
    }

    /// An error answer, by its stable code.
    public func error(code: String, status: Int) {
        CoreMetrics.Counter(label: "palisade_errors_total", dimensions: [("code", code), ("status", String(status))], factory: factory).increment()
    }

    /// The Prometheus text exposition, with the gauges sampled now.
    public func exposition(longPollsHeld held: Int) -> [UInt8] {
        longPollsHeld.record(held)
        return registry.emitToBuffer()
    }
}
