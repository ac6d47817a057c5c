import Foundation

/// Neuron ids written as a list: "89,2191", "0-767", "89,100-199" (a repeated option gives
/// several such texts). The one parser of the command line's `--neurons` and the app's ranges.
public enum NeuronList {
    /// The ids in the order given, each once; "a-b" is an inclusive range. Throws
    /// `InvalidParameter("neurons", ...)` naming the part that is not an id or a range.
    public static func parse(_ texts: [String]) throws -> [Int] {
        let text = texts.joined(separator: ",")
        var seen = Set<Int>(), ids: [Int] = []
        for part in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !part.isEmpty {
            guard let range = range(part) else {
                throw InvalidParameter("neurons", "\(text): '\(part)' is not a neuron id or a range like 0-767")
            }
            for id in range where seen.insert(id).inserted { ids.append(id) }
        }
        if ids.isEmpty { throw InvalidParameter("neurons", "\(text): no neurons") }
        return ids
    }

    public static func parse(_ text: String) throws -> [Int] { try parse([text]) }

    /// "7" or "10-19" as a range of ids; nil for anything else (negative ids included).
    public static func range(_ part: String) -> ClosedRange<Int>? {
        let bounds = part.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
            .map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard let low = bounds.first ?? nil, let high = bounds.last ?? nil, low >= 0, low <= high else { return nil }
        return low...high
    }
}
