import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOConcurrencyHelpers

/// What inner middleware learn about a request that the outer one reports (the caller).
final class ObservedRequest: Sendable {
    private let caller = NIOLockedValueBox<String?>(nil)

    func setCaller(_ value: String?) { caller.withLockedValue { $0 = value } }
    var callerDescription: String? { caller.withLockedValue { $0 } }
}

extension HTTPField.Name {
    static let requestId = HTTPField.Name("X-Request-Id")!
}

/// The outermost middleware: gives every request an id (a sane incoming `X-Request-Id`, or a
/// new one) that every log line of the request, its `X-Request-Id` answer header and any error
/// body carry; writes one access-log line per request; counts requests by route template and
/// status.
struct RequestObservabilityMiddleware: RouterMiddleware {
    typealias Context = PalisadeRequestContext
    let metrics: ServerMetrics

    /// Up to 128 characters of letters, digits and `-._:`: a proxy's or a client's own id
    /// survives; anything else (log injection, huge values) is replaced.
    static func acceptedRequestId(_ incoming: String?) -> String? {
        guard let incoming, (1...128).contains(incoming.utf8.count),
              incoming.utf8.allSatisfy({ $0.isASCIILetterOrDigit || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ":") })
        else { return nil }
        return incoming
    }

    static func newRequestId() -> String {
        let high = UInt64.random(in: .min ... .max), low = UInt32.random(in: .min ... .max)
        return String(high, radix: 16).leftPadded(16) + String(low, radix: 16).leftPadded(8)
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        let id = Self.acceptedRequestId(request.headers[.requestId]) ?? Self.newRequestId()
        context.requestId = id
        // Hummingbird's own key, so that `context.id` and every line agree.
        context.logger[metadataKey: "hb.request.id"] = .string(id)
        let started = ContinuousClock.now
        do {
            var response = try await next(request, context)
            response.headers[.requestId] = id
            record(request, context: context, status: response.status.code, duration: ContinuousClock.now - started)
            return response
        } catch {
            // ErrorMiddleware answers every error; only what it rethrows reaches here.
            record(request, context: context, status: (error as? any HTTPResponseError)?.status.code ?? 500, duration: ContinuousClock.now - started)
            throw error
        }
    }

    private func record(_ request: Request, context: Context, status: Int, duration: Duration) {
        let route = context.endpointPath.flatMap { $0 == "NotFound" ? nil : Self.template($0) } ?? "unmatched"
        metrics.request(method: request.method.rawValue, route: route, status: status, duration: duration)
        context.logger.info("request", metadata: [
            "method": .string(request.method.rawValue),
            "route": .string(route),
            "status": .stringConvertible(status),
            "duration_ms": .string(String(format: "%.1f", Double(duration.components.attoseconds) / 1e15 + Double(duration.components.seconds) * 1e3)),
            "principal": .string(context.observed.callerDescription ?? "-"),
        ])
    }

    /// `/api/v1/devices/:id` as `/api/v1/devices/{id}`, like the OpenAPI document.
    static func template(_ endpointPath: String) -> String {
        "/" + endpointPath.split(separator: "/").map { $0.hasPrefix(":") ? "{\($0.dropFirst())}" : String($0) }.joined(separator: "/")
    }
}

extension UInt8 {
    fileprivate var isASCIILetterOrDigit: Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(self) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(self) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self)
    }
}

extension String {
    fileprivate func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
