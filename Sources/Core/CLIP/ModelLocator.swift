import Foundation
import Support

/// Where a model's weights are.
///
public enum ModelLocation: Equatable, Sendable {
    /// A weights file: an OpenAI TorchScript `.pt`, a `torch.save` zip or a `.safetensors`.
    case file(path: String)
    /// The toy-world model embedded in the binary (`toy`).
    case bundledToy
}

/// Why `--model` could not be resolved: one line naming the argument and where it looked.
public struct ModelLookupError: Error, CustomStringConvertible, LocalizedError, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
    public var errorDescription: String? { message }
}

/// Turns a `--model` argument (a path or a name such as `RN50x4`) into a location.
///
/// A name is looked up as `<name>.pt` or `<name>.safetensors` in `$CLIPSCOPE_MODELS`, then
/// as `~/.cache/clip/<name>.pt`, where OpenAI's `clip` package caches its downloads.
/// The environment and home directory are injectable so that tests need not touch the real ones.
public struct ModelLocator: Sendable {
    /// The embedded toy-world model's name, and the default `--model`.
    public static let toyName = "toy"
    /// The names OpenAI released ResNet CLIPs under (also the file names of its downloads).
    public static let releasedNames = ["RN50", "RN101", "RN50x4", "RN50x16", "RN50x64"]
    /// The environment variable naming a directory of models.
    public static let directoryVariable = "CLIPSCOPE_MODELS"
    /// File extensions a weights file may have, in lookup order.
    public static let weightExtensions = ["pt", "safetensors"]

    public var environment: [String: String]
    public var homeDirectory: String

    /// `homeDirectory` defaults to `$HOME` (as Python's `expanduser`, which places OpenAI's cache), else the account's.
    public init(environment: [String: String] = ProcessInfo.processInfo.environment, homeDirectory: String? = nil) {
        self.environment = environment
        self.homeDirectory = homeDirectory ?? environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
    }

    /// Directories searched for a name, with the file names tried in each, in order.
    public func candidates(forName name: String) -> [String] {
        var paths: [String] = []
        if let directory = environment[Self.directoryVariable], !directory.isEmpty {
            let expanded = Self.expandingTilde(directory, home: homeDirectory)
            for ext in Self.weightExtensions {
                paths.append(URL(fileURLWithPath: expanded).appendingPathComponent("\(name).\(ext)").path)
            }
        }
        paths.append(URL(fileURLWithPath: homeDirectory).appendingPathComponent(".cache/clip/\(name).pt").path)
        return paths
    }

    /// Resolves `argument`: an existing file, a path (anything with a `/` or a weights
    /// extension), or a name looked up in the model directories.
    public func locate(_ argument: String) throws -> ModelLocation {
        guard !argument.isEmpty else { throw InvalidParameter("model", "is empty: give a path or a name (\(Self.releasedNames.joined(separator: ", ")))") }
        let expanded = Self.expandingTilde(argument, home: homeDirectory)
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: expanded, isDirectory: &isDirectory) {
            guard !isDirectory.boolValue else { throw ModelLookupError("\(argument): is a directory, not a model file") }
            return .file(path: expanded)
        }
        if Self.looksLikePath(argument) {
            throw ModelLookupError("\(argument): no such model file")
        }
        if argument.lowercased() == Self.toyName { return .bundledToy }
        let name = Self.releasedNames.first { $0.lowercased() == argument.lowercased() } ?? argument
        let searched = candidates(forName: name)
        if let found = searched.first(where: { FileManager.default.fileExists(atPath: $0) }) {
            return .file(path: found)
        }
        let known = Self.releasedNames.contains(name) ? "" : " (known names: \(([Self.toyName] + Self.releasedNames).joined(separator: ", ")))"
        throw ModelLookupError("model '\(argument)' not found\(known); looked in \(searched.joined(separator: ", "))")
    }

    /// Whether an argument names a file rather than a model: it has a directory part or a weights extension.
    static func looksLikePath(_ argument: String) -> Bool {
        argument.contains("/") || weightExtensions.contains { argument.lowercased().hasSuffix(".\($0)") }
    }

    static func expandingTilde(_ path: String, home: String) -> String {
        if path == "~" { return home }
        if path.hasPrefix("~/") { return URL(fileURLWithPath: home).appendingPathComponent(String(path.dropFirst(2))).path }
        return path
    }
}

extension CLIPModel {
    /// Loads the model at a location (see `load(path:)`).
    public static func load(_ location: ModelLocation) throws -> CLIPModel {
        switch location {
        case let .file(path): try load(path: path)
        case .bundledToy: try loadBundledToy()
        }
    }

    /// The toy-world model embedded in the binary.
    static func loadBundledToy() throws -> CLIPModel {
        let source = ModelSource(path: ModelLocator.toyName, format: .safetensors, embedded: true)
        let model = try load(archive: source.openArchive())
        model.source = source
        return model
    }

    /// Resolves a `--model` argument and loads it.
    public static func load(model argument: String, locator: ModelLocator = ModelLocator()) throws -> CLIPModel {
        try load(locator.locate(argument))
    }
}

extension CLIPModel {
    /// The model `argument` names, loaded once per executor: jobs and interactive calls on
    /// the same file share one copy (a changed file, by size or time, loads anew). Models are
    /// not thread-safe: use the result only inside `executor.run` (a job's `context.compute`).
    public static func shared(model argument: String, executor: ComputeExecutor = .shared,
                              locator: ModelLocator = ModelLocator()) throws -> CLIPModel {
        let location = try locator.locate(argument)
        let key: String
        switch location {
        case .bundledToy:
            key = "model:" + ModelLocator.toyName
        case let .file(path):
            let attributes = (try? FileManager.default.attributesOfItem(atPath: path)) ?? [:]
            let size = (attributes[.size] as? NSNumber)?.int64Value ?? -1
            let modified = (attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
            key = "model:\(URL(fileURLWithPath: path).standardizedFileURL.path):\(size):\(modified)"
        }
        return try executor.cached(key) { try load(location) }
    }
}
