import CLIP
import Foundation
import Jobs

/// An image file found under a scanned folder.
public struct ImageFile: Codable, Sendable, Equatable {
    /// Absolute, standardized path (the index's key).
    public let path: String
    /// Path below the scanned folder (what shards hash).
    public let relativePath: String
    /// The first sub-folder below the scanned folder; the folder's own name for files directly in it.
    public let category: String
    public let size: Int64
    public let mtimeNanoseconds: Int64
}

/// A deterministic 1/count of the files: those whose relative path hashes to `index`.
public struct Shard: Codable, Sendable, Equatable, CustomStringConvertible {
    public let index: Int
    public let count: Int

    public init(index: Int, count: Int) throws {
        guard count >= 1, (0..<count).contains(index) else {
            throw InvalidParameter("shard", "\(index)/\(count): expected K/N with N >= 1 and 0 <= K < N")
        }
        self.index = index
        self.count = count
    }

    /// Parses "K/N" (K counted from 0, as Slurm array and Kubernetes job indexes are).
    public init(parsing text: String) throws {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let k = Int(parts[0]), let n = Int(parts[1]) else {
            throw InvalidParameter("shard", "'\(text)': expected K/N, e.g. 0/4")
        }
        try self.init(index: k, count: n)
    }

    public func contains(relativePath: String) -> Bool {
        Int(FNV1a.hash(relativePath) % UInt64(count)) == index
    }

    public var description: String { "\(index)/\(count)" }
}

/// Walking folders of images.
public enum ImageFolders {
    /// File extensions scanned (case-insensitive).
    public static let extensions: Set<String> = ["jpg", "jpeg", "png"]

    /// Absolute, standardized form of a path.
    public static func absolute(_ path: String) -> String {
        URL(fileURLWithPath: path).standardizedFileURL.path
    }

    /// Every image under each folder (hidden files and folders skipped), sorted by path.
    /// Throws for a missing folder and for a folder without images.
    public static func walk(_ folders: [String]) throws -> [ImageFile] {
        guard !folders.isEmpty else { throw IndexError("give at least one folder of images to scan") }
        var files: [ImageFile] = []
        var seen = Set<String>()
        for folder in folders {
            let root = absolute(folder)
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: root, isDirectory: &isDirectory) else {
                throw IndexError("\(folder): no such folder")
            }
            guard isDirectory.boolValue else { throw IndexError("\(folder): not a folder") }
            let rootName = URL(fileURLWithPath: root).lastPathComponent
            guard let enumerator = FileManager.default.enumerator(
                at: URL(fileURLWithPath: root, isDirectory: true), includingPropertiesForKeys: [.isRegularFileKey],
                options: [.skipsHiddenFiles]) else { throw IndexError("\(folder): cannot list the folder") }
            var found = 0
            for case let url as URL in enumerator {
                guard extensions.contains(url.pathExtension.lowercased()) else { continue }
                let path = url.standardizedFileURL.path
                guard path.hasPrefix(root + "/") else { continue }
                guard let (size, mtime) = fileState(path), !seen.contains(path) else { continue }
                seen.insert(path)
                let relative = String(path.dropFirst(root.count + 1))
                let components = relative.split(separator: "/")
                let category = components.count > 1 ? String(components[0]) : rootName
                files.append(ImageFile(path: path, relativePath: relative, category: category, size: size, mtimeNanoseconds: mtime))
                found += 1
            }
            if found == 0 { throw IndexError("\(folder): no images (.jpg, .jpeg, .png) found") }
        }
        return files.sorted { $0.path < $1.path }
    }

    /// Size and modification time (ns) of a regular file; nil for anything else.
    public static func fileState(_ path: String) -> (size: Int64, mtimeNanoseconds: Int64)? {
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
        #if canImport(Darwin)
        let time = info.st_mtimespec
        #else
        let time = info.st_mtim
        #endif
        return (Int64(info.st_size), Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec))
    }
}
