import NIOConcurrencyHelpers

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
