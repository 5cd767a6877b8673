import Foundation
import Hummingbird
import Logging
import NIOConcurrencyHelpers
import PalisadeCore

/// Turns every error into `{"error": {"code", "message", "details"}}` with the right status.
struct ErrorMiddleware: RouterMiddleware {
    typealias Context = PalisadeRequestContext
    /// The served routes, to answer 405 (with Allow) instead of 404 for a known path.
    let routes: RouteTable

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as PalisadeError {
            return Self.response(for: error)
        } catch let error as HTTPError where error.status == .notFound && error.body == nil {
            let allowed = routes.methods(for: request.uri.path)
            guard !allowed.isEmpty else {
                return (try? JSONBody.response(ErrorBody(code: "not_found", message: "no such route: \(request.method) \(request.uri.path)"), status: .notFound)) ?? Response(status: .notFound)
            }
            var response = (try? JSONBody.response(ErrorBody(code: "method_not_allowed", message: "\(request.method) is not allowed on \(request.uri.path); allowed: \(allowed.joined(separator: ", "))"), status: .methodNotAllowed)) ?? Response(status: .methodNotAllowed)
            response.headers[.allow] = allowed.joined(separator: ", ")
            return response
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

/// The router's routes as path patterns, filled once the router is built.
final class RouteTable: Sendable {
    private let patterns = NIOLockedValueBox<[(segments: [Substring], method: String)]>([])

    func set(_ routes: [(path: String, method: String)]) {
        patterns.withLockedValue { $0 = routes.map { ($0.path.split(separator: "/"), $0.method) } }
    }

    /// Methods served on a concrete path (`{x}` matches one segment, `**` the rest).
    func methods(for path: String) -> [String] {
        let segments = path.split(separator: "/")
        return patterns.withLockedValue { patterns in
            // As the router does, a literal segment beats a capture at the same place.
            let matching = patterns.filter { Self.matches($0.segments, segments) }
            let best = matching.map { Self.literalMask($0.segments) }.max { $0.lexicographicallyPrecedes($1) }
            return Array(Set(matching.filter { Self.literalMask($0.segments) == best }.map(\.method))).sorted()
        }
    }

    static func literalMask(_ pattern: [Substring]) -> [Int] {
        pattern.map { $0.hasPrefix("{") || $0.hasPrefix(":") || $0 == "**" ? 0 : 1 }
    }

    static func matches(_ pattern: [Substring], _ segments: [Substring]) -> Bool {
        for (index, part) in pattern.enumerated() {
            if part == "**" { return segments.count > index }
            guard index < segments.count else { return false }
            if part.hasPrefix("{") || part.hasPrefix(":") { continue }
            if part != segments[index] { return false }
        }
        return pattern.count == segments.count
    }
}
