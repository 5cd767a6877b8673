import Hummingbird
import PalisadeCore

extension PalisadeError {
    /// The answer to a database failure a caller can act on (see `DatabaseFailure`); nil for
    /// any other error.
    static func databaseFailure(_ error: any Error) -> PalisadeError? {
        if DatabaseFailure.isUnavailable(error) {
            let seconds = DatabaseFailure.retryAfterSeconds
            var refusal = PalisadeError(.serviceUnavailable, code: .databaseUnavailable,
                                        message: "the database is unreachable; retry in \(seconds) s",
                                        details: ["database": "unreachable", "retryAfterSeconds": .number(Double(seconds))])
            refusal.headers[.retryAfter] = String(seconds)
            return refusal
        }
        if DatabaseFailure.isStorageFull(error) {
            return PalisadeError(.init(code: 507, reasonPhrase: "Insufficient Storage"), code: .storageFull,
                                 message: "the server's storage is full: nothing was written; reads still work, and writes work again once space is freed")
        }
        return nil
    }
}
