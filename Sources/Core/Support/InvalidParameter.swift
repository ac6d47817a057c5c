import Foundation

/// A parameter a job or a model call cannot work with, named as the API names it
/// ("neuron", "batchSize"): "neuron 5000 is out of range ...". The command line shows
/// its own option name instead ("--neuron 5000 is out of range ...").
public struct InvalidParameter: Error, CustomStringConvertible, LocalizedError, Equatable, Sendable {
    public let parameter: String
    /// The detail with other parameters it names marked (`mention`).
    let markedDetail: String

    /// `detail`: what is wrong, after the name: "5000 is out of range ...", "must be at least
    /// 1, got 0". Another parameter it names is written `InvalidParameter.mention("size")`,
    /// so that each front end shows it by its own name.
    public init(_ parameter: String, _ detail: String) {
        self.parameter = parameter
        markedDetail = detail
    }

    /// The detail with mentioned parameters by their API names.
    public var detail: String { detail(naming: { $0 }) }

    /// The detail with mentioned parameters named by `name` (the command line: as options).
    public func detail(naming name: (String) -> String) -> String {
        var text = "", rest = Substring(markedDetail)
        while let open = rest.firstIndex(of: Self.mentionStart), let close = rest[open...].firstIndex(of: Self.mentionEnd) {
            text += rest[..<open] + name(String(rest[rest.index(after: open)..<close]))
            rest = rest[rest.index(after: close)...]
        }
        return text + rest
    }

    /// Another parameter named inside a detail.
    public static func mention(_ parameter: String) -> String { "\(mentionStart)\(parameter)\(mentionEnd)" }
    static let mentionStart: Character = "\u{2}", mentionEnd: Character = "\u{3}"

    public var description: String { "\(parameter) \(detail)" }
    public var errorDescription: String? { description }
}

extension InvalidParameter {
    /// The first of `values` that is NaN or infinite (they pass comparisons such as `> 0`
    /// unnoticed), named.
    public static func nonFinite(_ values: KeyValuePairs<String, Double>) -> InvalidParameter? {
        values.first { !$0.value.isFinite }.map { InvalidParameter($0.key, "must be a finite number, got \($0.value)") }
    }
}
