import Foundation

/// A file a scan could not read, and why.
public struct SkippedFile: Codable, Sendable, Equatable {
    public let path: String
    public let error: String

    public init(path: String, error: String) {
        self.path = path
        self.error = error
    }
}

/// Why a folder of images could not be walked: one line naming the folder.
public struct FolderError: Error, CustomStringConvertible, LocalizedError, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
    public var errorDescription: String? { message }
}

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

    /// What a walk found: the images, and the links it could not follow (with why).
    public struct Walk: Sendable, Equatable {
        public var files: [ImageFile] = []
        /// Dangling links and link loops, with the reason, sorted by path.
        public var skipped: [SkippedFile] = []
    }

    /// Every image under each folder (hidden files and folders skipped), sorted by path.
    /// Symbolic links are followed, the folder given as one too; a link that leads nowhere or
    /// back into a folder it is inside is listed as skipped, not followed.
    /// Throws for a missing folder and for a folder without images.
    public static func walk(_ folders: [String]) throws -> Walk {
        guard !folders.isEmpty else { throw FolderError("give at least one folder of images to scan") }
        var walk = Walk()
        var seen = Set<String>()
        for folder in folders {
            let root = absolute(folder)
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: root, isDirectory: &isDirectory) else {
                throw FolderError("\(folder): no such folder")
            }
            guard isDirectory.boolValue else { throw FolderError("\(folder): not a folder") }
            guard let realRoot = realPath(root) else { throw FolderError("\(folder): cannot list the folder") }
            let rootName = URL(fileURLWithPath: root).lastPathComponent
            var found = 0
            // Depth first, in name order; `inside` holds the real paths of the folders above, so a
            // link back to one of them (a loop) is noticed instead of followed forever.
            var pending: [(path: String, inside: Set<String>)] = [(root, [realRoot])]
            while let (directory, inside) = pending.popLast() {
                guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else {
                    if directory == root { throw FolderError("\(folder): cannot list the folder") }
                    walk.skipped.append(SkippedFile(path: directory, error: "cannot list the folder"))
                    continue
                }
                var subfolders: [(path: String, inside: Set<String>)] = []
                for name in names.sorted() where !name.hasPrefix(".") {
                    let path = directory + "/" + name
                    var info = stat()
                    guard stat(path, &info) == 0 else {
                        let reason = errno == ELOOP ? "a symbolic link loop" : "a dangling symbolic link"
                        if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: path) {
                            walk.skipped.append(SkippedFile(path: path, error: "\(reason) (to \(target))"))
                        }
                        continue
                    }
                    if (info.st_mode & S_IFMT) == S_IFDIR {
                        guard let real = realPath(path) else { continue }
                        if inside.contains(real) {
                            walk.skipped.append(SkippedFile(path: path, error: "a symbolic link loop (back to \(real))"))
                        } else {
                            subfolders.append((path, inside.union([real])))
                        }
                        continue
                    }
                    guard extensions.contains((name as NSString).pathExtension.lowercased()),
                          let (size, mtime) = fileState(path), !seen.contains(path) else { continue }
                    seen.insert(path)
                    let relative = String(path.dropFirst(root.count + 1))
                    let components = relative.split(separator: "/")
                    let category = components.count > 1 ? String(components[0]) : rootName
                    walk.files.append(ImageFile(path: path, relativePath: relative, category: category, size: size, mtimeNanoseconds: mtime))
                    found += 1
                }
                pending += subfolders.reversed()
            }
            if found == 0 { throw FolderError("\(folder): no images (.jpg, .jpeg, .png) found") }
        }
        walk.files.sort { $0.path < $1.path }
        walk.skipped.sort { $0.path < $1.path }
        return walk
    }

    /// The path with every symbolic link resolved; nil when it cannot be.
    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
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
