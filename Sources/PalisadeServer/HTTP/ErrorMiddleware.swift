import Foundation
import Hummingbird
import Logging
import PalisadeCore

/// Turns every error into `{"error": {"code", "message", "details"}}` with the right status.
struct ErrorMiddleware: RouterMiddleware {
    typealias Context = PalisadeRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as PalisadeError {
            return Self.response(for: error)
        } catch let error as HTTPError {
            let code: String = switch error.status {
            case .notFound: "not_found"
            case .methodNotAllowed: "method_not_allowed"
            case .contentTooLarge: "payload_too_large"
            case .unauthorized: "unauthorized"
            default: "http_\(error.status.code)"
            }
            let message = error.body ?? (error.status == .notFound ? "no such route: \(request.method) \(request.uri.path)" : error.status.reasonPhrase)
            return (try? JSONBody.response(ErrorBody(code: code, message: message), status: error.status)) ?? Response(status: error.status)
        } catch {
            context.logger.error("unhandled error", metadata: ["error": "\(error)", "path": "\(request.uri.path)"])
            return (try? JSONBody.response(ErrorBody(code: "internal_error", message: "internal error; the server log has the details"), status: .internalServerError))
                ?? Response(status: .internalServerError)
        }
    }

    static func response(for error: PalisadeError) -> Response {
        let status: HTTPResponse.Status = switch error.kind {
        case .badRequest: .badRequest
        case .unauthorized: .unauthorized
        case .forbidden: .forbidden
        case .notFound: .notFound
        case .conflict: .conflict
        case .gone: .gone
        case .payloadTooLarge: .contentTooLarge
        case .unprocessable: .unprocessableContent
        }
        return (try? JSONBody.response(ErrorBody(code: error.code, message: error.message, details: error.details), status: status))
            ?? Response(status: status)
    }
}

/// Admin API authentication: `Authorization: Bearer <token>`; sets the context's tenant.
struct TenantAuthenticationMiddleware: RouterMiddleware {
    typealias Context = PalisadeRequestContext
    let store: PalisadeStore

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization], header.lowercased().hasPrefix("bearer ") else {
            throw PalisadeError(.unauthorized, code: "unauthorized", message: "send the API token as Authorization: Bearer <token>")
        }
        let token = String(header.dropFirst("bearer ".count)).trimmingCharacters(in: .whitespaces)
        guard let tenant = try await store.authenticate(apiToken: token) else {
            throw PalisadeError(.unauthorized, code: "unauthorized", message: "the API token is not valid")
        }
        var context = context
        context.tenant = tenant
        context.logger[metadataKey: "tenant"] = .string(tenant.tenantId)
        return try await next(request, context)
    }
}

/// Paging parameters shared by list endpoints: `?limit=` (1...1000, default 100) and `?cursor=`.
struct PageRequest {
    var limit: Int
    var cursor: String?

    init(_ request: Request) throws {
        let query = request.uri.queryParameters
        if let text = query["limit"] {
            guard let limit = Int(String(text)), (1...1000).contains(limit) else {
                throw PalisadeError.invalid("limit must be an integer from 1 to 1000, got \"\(text)\"", field: "limit")
            }
            self.limit = limit
        } else {
            self.limit = 100
        }
        self.cursor = query["cursor"].map(String.init)
    }
}

/// `{"<name>": [...], "nextCursor": ...}`: lists are named after what they list.
struct NamedList<Item: Encodable>: Encodable {
    var name: String
    var items: [Item]
    var nextCursor: String?

    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        try container.encode(items, forKey: Key(stringValue: name))
        try container.encodeIfPresent(nextCursor, forKey: Key(stringValue: "nextCursor"))
    }
}

extension Page where Item: Encodable {
    func response(named name: String) throws -> Response {
        try JSONBody.response(NamedList(name: name, items: items, nextCursor: nextCursor))
    }
}
