import Hummingbird
import PalisadeCore

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
