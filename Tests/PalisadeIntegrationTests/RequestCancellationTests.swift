import Hummingbird
import Logging
import NIOConcurrencyHelpers
import NIOCore
@testable import PalisadeServer
import Testing

/// A request cancelled because the server is stopping (ServiceLifecycle cancels what still runs
/// after the graceful limit) is answered 503 `server_stopping` with Retry-After, which agents
/// back off on, and is not logged as an error: with 10,000 devices a stop logged about 1,700
/// "unhandled error" and "database failure" lines.
@Suite struct RequestCancellationTests {
    static let request = Request(head: .init(method: .post, scheme: "https", authority: "palisade.test", path: "/device/v1/check-in"),
                                 body: RequestBody(buffer: ByteBuffer()))

    @Test func aCancelledRequestIsAnswered503ServerStoppingWithRetryAfterAndLoggedBelowWarning() async throws {
        let recorder = RecordedLevels()
        let logger = Logger(label: "test") { _ in recorder }
        let answer = ErrorMiddleware.palisadeError(for: CancellationError(), request: Self.request, routes: RouteTable(), logger: logger)
        #expect(answer.status == .serviceUnavailable)
        #expect(answer.code == .serverStopping)
        #expect(answer.headers[.retryAfter] == String(DatabaseFailure.retryAfterSeconds))
        #expect(recorder.levels.allSatisfy { $0 < .warning }, "logged at \(recorder.levels)")

        // Whatever a cancelled task's work throws (here the database pool's refusal) is the same.
        let inCancelledTask = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return ErrorMiddleware.palisadeError(for: DatabaseUnreachable(database: "PostgreSQL"), request: Self.request, routes: RouteTable(), logger: logger)
        }
        #expect(await inCancelledTask.value.code == .serverStopping)

        // Not cancelled: an unknown error is still a logged 500.
        let other = ErrorMiddleware.palisadeError(for: SomeError(), request: Self.request, routes: RouteTable(), logger: logger)
        #expect(other.code == .internalError)
        #expect(recorder.levels.contains(.error))
    }

    struct SomeError: Error {}
}

/// Collects the levels of what was logged.
struct RecordedLevels: LogHandler {
    private let recorded = NIOLockedValueBox<[Logger.Level]>([])
    var levels: [Logger.Level] { recorded.withLockedValue { $0 } }
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) { recorded.withLockedValue { $0.append(event.level) } }
}
