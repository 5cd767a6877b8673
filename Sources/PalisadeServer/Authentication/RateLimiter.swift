import Foundation
import HTTPTypes
import NIOConcurrencyHelpers
import PalisadeCore

/// Counts events per key (a source address, a device) in fixed windows and refuses with 429
/// and `Retry-After` once a key reaches its limit. In memory, per replica: behind several
/// replicas an address gets the limit on each, which still bounds guessing.
final class RateLimiter: Sendable {
    let limit: Int
    let windowMillis: Int64
    let clock: any WallClock
    private let windows = NIOLockedValueBox<[String: (start: Int64, count: Int)]>([:])

    init(limit: Int, window: Duration, clock: any WallClock) {
        self.limit = limit
        self.windowMillis = Int64(window.components.seconds * 1000)
        self.clock = clock
    }

    /// Refuses when `key` has used up its window; `what` names it in the message.
    func check(_ key: String, what: String) throws {
        let now = clock.nowMillis
        let full: Int64? = windows.withLockedValue { windows in
            guard let window = windows[key], window.start + windowMillis > now, window.count >= limit else { return nil }
            return window.start + windowMillis
        }
        if let until = full {
            var error = PalisadeError(.tooManyRequests, code: .tooManyRequests,
                                      message: "too many \(what); try again in \((until - now + 999) / 1000) s",
                                      details: ["retryAfterSeconds": .integer((until - now + 999) / 1000)])
            error.headers[.retryAfter] = String((until - now + 999) / 1000)
            throw error
        }
    }

    /// Counts one event (a failed sign-in).
    func recordFailure(_ key: String) {
        let now = clock.nowMillis
        windows.withLockedValue { windows in
            if windows.count > 100_000 { windows = windows.filter { $0.value.start + windowMillis > now } }
            if let window = windows[key], window.start + windowMillis > now {
                windows[key] = (window.start, window.count + 1)
            } else {
                windows[key] = (now, 1)
            }
        }
    }

    /// Checks, then counts: for limits on every attempt (enrollment, check-ins).
    func consume(_ key: String, what: String) throws {
        try check(key, what: what)
        recordFailure(key)
    }
}
