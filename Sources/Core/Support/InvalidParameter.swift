import Foundation

/// A parameter a job or a model call cannot work with, named as the API names it
/// ("neuron", "batchSize"): "neuron 5000 is out of range ...". The command line shows
/// its own option name instead ("--neuron 5000 is out of range ...").
public struct InvalidParameter: Error, CustomStringConvertible, LocalizedError, Equatable, Sendable {
    public let parameter: String
    /// What is wrong, after the name: "5000 is out of range ...", "must be at least 1, got 0".
    public let detail: String
    public init(_ parameter: String, _ detail: String) {
        self.parameter = parameter
        self.detail = detail
    }
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
