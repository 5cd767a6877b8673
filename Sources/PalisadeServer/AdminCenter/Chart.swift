import Foundation

/// Inline SVG charts drawn on the server: no script, no external library, and a text
/// equivalent beside each (the legend carries the numbers; the SVG has a title for screen
/// readers).
enum Chart {
    /// One horizontal bar split by category; categories name CSS swatch classes and colours.
    static func stackedBar(_ parts: [(String, Int)], label: String, width: Int = 480, height: Int = 22) -> String {
        let total = parts.reduce(0) { $0 + $1.1 }
        var x = 0.0
        var shapes = ""
        if total == 0 {
            shapes = "<rect x=\"0\" y=\"0\" width=\"\(width)\" height=\"\(height)\" fill=\"#e3e7eb\"/>"
        } else {
            for (name, count) in parts where count > 0 {
                let w = Double(width) * Double(count) / Double(total)
                shapes += String(format: "<rect x=\"%.2f\" y=\"0\" width=\"%.2f\" height=\"%d\" fill=\"%@\"><title>%@: %d</title></rect>", x, w, height, colour(name), escape(name), count)
                x += w
            }
        }
        return "<svg class=\"chart\" role=\"img\" aria-label=\"\(escape(label))\" viewBox=\"0 0 \(width) \(height)\" width=\"\(width)\" height=\"\(height)\"><title>\(escape(label))</title>\(shapes)</svg>"
    }

    /// Vertical bars with their values written above them.
    static func bars(_ parts: [(String, Int)], label: String, width: Int = 360, height: Int = 150) -> String {
        let top = max(parts.map(\.1).max() ?? 0, 1)
        let slot = Double(width) / Double(max(parts.count, 1))
        var shapes = ""
        for (index, (name, count)) in parts.enumerated() {
            let h = Double(height - 40) * Double(count) / Double(top)
            let x = Double(index) * slot + slot * 0.2
            let y = Double(height - 20) - h
            shapes += String(format: "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%@\"><title>%@: %d</title></rect>", x, y, slot * 0.6, h, colour(name), escape(name), count)
            shapes += String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"12\" fill=\"#1a1f24\">%d</text>", x + slot * 0.3, y - 4, count)
            shapes += String(format: "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" font-size=\"12\" fill=\"#1a1f24\">%@</text>", x + slot * 0.3, height - 4, escape(name))
        }
        return "<svg class=\"chart\" role=\"img\" aria-label=\"\(escape(label))\" viewBox=\"0 0 \(width) \(height)\" width=\"\(width)\" height=\"\(height)\"><title>\(escape(label))</title>\(shapes)</svg>"
    }

    static func colour(_ name: String) -> String {
        switch name {
        case "succeeded": "#116329"
        case "error": "#a4161a"
        case "conflict": "#b86e00"
        case "pending": "#3b4c8c"
        case "notApplicable": "#8a949e"
        case "Linux", "linux": "#2d6a4f"
        case "macOS", "macos": "#5a4fcf"
        case "Windows", "windows": "#0b57d0"
        default: "#12263f"
        }
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;").replacingOccurrences(of: "'", with: "&#39;")
    }
}
