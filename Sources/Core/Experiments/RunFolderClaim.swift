import Foundation
import Jobs
import Support

/// A job that keeps its settings in its run folder's `parameters.json`, so that running it
/// again into the same folder continues it, and other settings are refused.
protocol ClaimsRunFolder: Codable, Equatable {
    var output: String { get set }
    /// What the folder's runs are called in the refusal ("a visualization").
    static var runName: String { get }
    /// What must match for a run to continue another: the settings without the folder
    /// (and without what only affects reporting).
    var identity: Self { get }
}

extension ClaimsRunFolder {
    var parametersPath: String { (output as NSString).appendingPathComponent("parameters.json") }

    /// Makes the folder this run's, or checks that it already is.
    func claimFolder() throws {
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        if let saved = FileManager.default.contents(atPath: parametersPath) {
            guard let theirs = try? JSONDecoder().decode(Self.self, from: saved), theirs.identity == identity else {
                throw InvalidParameter("output", "\(output) holds \(Self.runName) with other settings; remove it or choose another \(InvalidParameter.mention("output"))")
            }
            return
        }
        try JSONFiles.write(identity, to: parametersPath)
    }
}

/// Pretty, sorted JSON written atomically.
enum JSONFiles {
    static func write<T: Encodable>(_ value: T, to path: String) throws {
        try JSONValue.encode(value, formatting: [.prettyPrinted, .sortedKeys]).write(to: URL(fileURLWithPath: path), options: .atomic)
    }
}
