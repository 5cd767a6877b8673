import Foundation
import Hummingbird
import NIOCore
import PalisadeCore

/// JSON in and out of handlers, with errors that name what is wrong and where.
enum JSONBody {
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }()

    /// Collects the request body (413 past the limit).
    static func collect(_ request: Request, context: some RequestContext) async throws -> ByteBuffer {
        do {
            return try await request.body.collect(upTo: context.maxUploadSize)
        } catch {
            throw PalisadeError(.contentTooLarge, code: .payloadTooLarge, message: "the request body is larger than \(context.maxUploadSize) bytes")
        }
    }

    static func decode<T: Decodable>(_ type: T.Type, from request: Request, context: some RequestContext) async throws -> T {
        try decode(type, from: try await collect(request, context: context))
    }

    static func decode<T: Decodable>(_ type: T.Type, from buffer: ByteBuffer) throws -> T {
        let data = Data(buffer.readableBytesView)
        guard !data.isEmpty else {
            throw PalisadeError(.badRequest, code: .invalidJSON, message: "the request body is empty; a JSON object is expected")
        }
        do {
            return try JSONDecoder().decode(type, from: data)
        } catch let error as DecodingError {
            throw describe(error)
        } catch let error as PalisadeError {
            throw error
        } catch let error as DomainError {
            throw error
        } catch {
            throw PalisadeError(.badRequest, code: .invalidJSON, message: "the request body is not valid JSON")
        }
    }

    static func describe(_ error: DecodingError) -> PalisadeError {
        func path(_ codingPath: [any CodingKey]) -> String {
            let text = codingPath.map { key in key.intValue.map { "[\($0)]" } ?? ".\(key.stringValue)" }.joined()
            return text.hasPrefix(".") ? String(text.dropFirst()) : (text.isEmpty ? "(body)" : text)
        }
        switch error {
        case .dataCorrupted(let context) where context.codingPath.isEmpty:
            return PalisadeError(.badRequest, code: .invalidJSON, message: "the request body is not valid JSON, or holds a number too large for its field",
                                 details: ["reason": .string(context.debugDescription)])
        case .dataCorrupted(let context):
            return PalisadeError(.badRequest, code: .invalidRequest, message: "\(path(context.codingPath)): \(context.debugDescription)", details: .object(["field": .string(path(context.codingPath))]))
        case .keyNotFound(let key, let context):
            let field = path(context.codingPath + [key])
            return PalisadeError(.badRequest, code: .invalidRequest, message: "\(field) is required", details: .object(["field": .string(field)]))
        case .typeMismatch(let type, let context), .valueNotFound(let type, let context):
            let field = path(context.codingPath)
            return PalisadeError(.badRequest, code: .invalidRequest, message: "\(field): expected \(describe(type))", details: .object(["field": .string(field)]))
        @unknown default:
            return PalisadeError(.badRequest, code: .invalidRequest, message: "the request body does not match the expected shape")
        }
    }

    static func describe(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int.Type, is Int64.Type: "an integer"
        case is Bool.Type: "a boolean"
        case is Double.Type: "a number"
        default: "a value of type \(type)"
        }
    }

    static func response<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
        let data = try encoder.encode(value)
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// A decoded enum field that names the allowed values when wrong.
struct StrictEnum<E: RawRepresentable & CaseIterable & Sendable>: Decodable, Sendable where E.RawValue == String {
    var value: E

    init(from decoder: any Decoder) throws {
        let raw = try decoder.singleValueContainer().decode(String.self)
        guard let value = E(rawValue: raw) else {
            let allowed = E.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "expected one of \(allowed), got \"\(raw)\""))
        }
        self.value = value
    }
}
