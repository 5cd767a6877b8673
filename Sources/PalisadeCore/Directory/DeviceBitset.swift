/// A set of device slots as bits: rule evaluation over a whole tenant is a few word-wide
/// operations per rule term instead of one rule evaluation per device.
struct DeviceBitset: Sendable, Equatable {
    private(set) var words: [UInt64]

    init(capacity: Int) {
        words = Array(repeating: 0, count: (capacity + 63) / 64)
    }

    mutating func insert(_ slot: Int) {
        let word = slot >> 6
        if word >= words.count { words.append(contentsOf: repeatElement(0, count: word - words.count + 1)) }
        words[word] |= 1 << UInt64(slot & 63)
    }

    mutating func remove(_ slot: Int) {
        let word = slot >> 6
        guard word < words.count else { return }
        words[word] &= ~(1 << UInt64(slot & 63))
    }

    func contains(_ slot: Int) -> Bool {
        let word = slot >> 6
        return word < words.count && words[word] & (1 << UInt64(slot & 63)) != 0
    }

    mutating func formUnion(_ other: DeviceBitset) {
        if other.words.count > words.count { words.append(contentsOf: repeatElement(0, count: other.words.count - words.count)) }
        for index in other.words.indices { words[index] |= other.words[index] }
    }

    mutating func formIntersection(_ other: DeviceBitset) {
        for index in words.indices { words[index] &= index < other.words.count ? other.words[index] : 0 }
    }

    func symmetricDifference(_ other: DeviceBitset) -> DeviceBitset {
        var result = self
        if other.words.count > result.words.count { result.words.append(contentsOf: repeatElement(0, count: other.words.count - result.words.count)) }
        for index in other.words.indices { result.words[index] ^= other.words[index] }
        return result
    }

    /// The slots of `universe` not in this set.
    func complement(within universe: DeviceBitset) -> DeviceBitset {
        var result = universe
        for index in result.words.indices where index < words.count { result.words[index] &= ~words[index] }
        return result
    }

    var count: Int { words.reduce(0) { $0 + $1.nonzeroBitCount } }

    /// Every slot in the set, ascending.
    var slots: [Int] {
        var result: [Int] = []
        for (index, word) in words.enumerated() where word != 0 {
            var remaining = word
            while remaining != 0 {
                let bit = remaining.trailingZeroBitCount
                result.append(index << 6 + bit)
                remaining &= remaining - 1
            }
        }
        return result
    }
}
