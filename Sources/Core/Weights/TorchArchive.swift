import Foundation

/// Reads torch zip archives: OpenAI's TorchScript `.pt` files (a pickled module tree in `data.pkl`)
/// and `torch.save(state_dict)` files (a pickled OrderedDict). Storages are `<root>/data/<key>`.
enum TorchArchiveReader {
    /// Tensors OpenAI's archives carry next to the weights that are not weights (`build_model` drops them).
    static let nonWeightKeys: Set<String> = ["input_resolution", "context_length", "vocab_size"]
    /// The most a deflated pickle or code file may inflate to: ViT-L/14's are under 2 MiB.
    static let metadataLimit = 64 << 20

    static func read(_ file: MappedFile) throws -> WeightArchive {
        let path = file.path
        let zip = try ZipArchive(bytes: file.bytes, path: path)
        guard let first = zip.entries.first, let slash = first.name.firstIndex(of: "/") else {
            throw WeightsError(path: path, "not a torch archive (a zip without a top-level folder)")
        }
        let root = String(first.name[..<slash])
        guard let pickleEntry = zip.entry("\(root)/data.pkl") else {
            throw WeightsError(path: path, "not a torch archive (no \(root)/data.pkl in the zip)")
        }
        let isTorchScript = zip.entry("\(root)/constants.pkl") != nil || zip.entries.contains { $0.name.hasPrefix("\(root)/code/") }

        let pickle = try zip.contents(pickleEntry, limit: metadataLimit, need: "a pickle may take")
        let rootValue: PickleValue = try pickle.withBytes { bytes in
            var machine = PickleMachine(data: bytes, source: "\(path) (\(root)/data.pkl)")
            return try machine.run()
        }

        var tensors: [(key: String, tensor: PickleTensor)] = []
        var declarations = StateDeclarations(zip: zip, root: root)
        collect(rootValue, prefix: "", depth: 0, declarations: &declarations, into: &tensors)
        if tensors.isEmpty {
            throw WeightsError(path: path, "not a weights archive (\(root)/data.pkl holds no tensors)")
        }

        var inflatedStorages: [String: Data] = [:]
        var entries: [WeightArchive.Entry] = []
        for (key, tensor) in tensors {
            guard let dtype = dtype(ofStorage: tensor.storageType) else {
                throw WeightsError(path: path, "key '\(key)' has unsupported storage type \(tensor.storageType)")
            }
            let storageName = "\(root)/data/\(tensor.storageKey)"
            guard let storage = zip.entry(storageName) else {
                throw WeightsError(path: path, "key '\(key)': storage \(storageName) is missing (truncated or damaged archive)")
            }
            // Checked arithmetic throughout: a foreign file may hold absurd sizes.
            guard let storageBytes = checkedProduct([tensor.storageElementCount, dtype.byteSize]),
                  storage.uncompressedSize >= storageBytes
            else {
                throw WeightsError(path: path, "key '\(key)': storage \(storageName) is shorter than its \(tensor.storageElementCount) elements")
            }
            guard let count = checkedProduct(tensor.shape), let lastElement = lastElementIndex(tensor),
                  count == 0 || lastElement < tensor.storageElementCount
            else {
                throw WeightsError(path: path, "key '\(key)': view of shape \(tensor.shape) runs past its storage \(storageName)")
            }
            var entry = WeightArchive.Entry(
                info: WeightInfo(key: key, dtype: dtype, shape: tensor.shape),
                byteOffset: 0, strides: isContiguous(tensor.shape, tensor.strides) ? nil : tensor.strides,
                inflated: nil)
            if storage.method == 0 {
                entry.byteOffset = storage.dataOffset + tensor.offset * dtype.byteSize
            } else {
                if inflatedStorages[storageName] == nil {
                    // A deflated storage inflates to exactly its elements; anything larger is refused unread.
                    guard case .inflated(let data) = try zip.contents(storage, limit: storageBytes, need: "its tensors need")
                    else { continue }
                    inflatedStorages[storageName] = data
                }
                entry.inflated = inflatedStorages[storageName]
                entry.byteOffset = tensor.offset * dtype.byteSize
            }
            entries.append(entry)
        }
        return try WeightArchive(path: path, format: isTorchScript ? .torchScript : .torchStateDict,
                                 file: file, entries: entries, metadata: ["root": root])
    }

    /// Walks modules (objects whose BUILD state is an attribute dict) and dicts, naming tensors by dotted path,
    /// the names `state_dict()` gives. Non-tensor attributes (`training`, hooks, ints) are skipped, and so are
    /// a scripted module's plain tensor attributes (an attention mask), which are neither parameters nor buffers.
    /// The depth limit stops a damaged pickle whose dict contains itself.
    private static func collect(_ value: PickleValue, prefix: String, depth: Int, moduleType: String? = nil,
                                declarations: inout StateDeclarations,
                                into tensors: inout [(key: String, tensor: PickleTensor)]) {
        guard depth < 64 else { return }
        switch value {
        case .tensor(let tensor):
            tensors.append((String(prefix.dropLast()), tensor))
        case .dict(let dict):
            let declared = moduleType.flatMap { declarations.names(of: $0) }
            for (key, child) in dict.pairs {
                guard let name = key.string else { continue }
                if prefix.isEmpty, nonWeightKeys.contains(name) { continue }
                if case .tensor = child, let declared, !declared.contains(name) { continue }
                collect(child, prefix: prefix + name + ".", depth: depth + 1, declarations: &declarations, into: &tensors)
            }
        case .object(let object):
            switch object.state {
            case .dict?:
                collect(object.state!, prefix: prefix, depth: depth + 1, moduleType: object.type,
                        declarations: &declarations, into: &tensors)
            case .tuple(let parts)?:
                // (dict, slots) form of BUILD state.
                for part in parts {
                    collect(part, prefix: prefix, depth: depth + 1, declarations: &declarations, into: &tensors)
                }
            default: break
            }
        default:
            break
        }
    }

    /// A TorchScript module class's `__parameters__` and `__buffers__`, read from the archive's `code/`
    /// (`__torch__.clip.model.___torch_mangle_3.Bottleneck` lives in `code/__torch__/clip/model/___torch_mangle_3.py`).
    struct StateDeclarations {
        let zip: ZipArchive
        let root: String
        private var cache: [String: Set<String>?] = [:]
        private var files: [String: String?] = [:]

        init(zip: ZipArchive, root: String) {
            self.zip = zip
            self.root = root
        }

        /// The declared state names of `type`, or nil when the archive does not say (then every tensor counts).
        mutating func names(of type: String) -> Set<String>? {
            if let cached = cache[type] { return cached }
            var result: Set<String>?
            if let dot = type.lastIndex(of: ".") {
                let module = String(type[..<dot]), className = String(type[type.index(after: dot)...])
                if let source = file("\(root)/code/\(module.replacingOccurrences(of: ".", with: "/")).py") {
                    result = Self.parse(source, className: className)
                }
            }
            cache[type] = result
            return result
        }

        private mutating func file(_ name: String) -> String? {
            if let cached = files[name] { return cached }
            var text: String?
            if let entry = zip.entry(name), let contents = try? zip.contents(entry, limit: TorchArchiveReader.metadataLimit, need: "a code file may take") {
                text = contents.withBytes { String(decoding: $0, as: UTF8.self) }
            }
            files[name] = text
            return text
        }

        static func parse(_ source: String, className: String) -> Set<String>? {
            var inClass = false
            var names: Set<String> = []
            var sawDeclaration = false
            for line in source.split(separator: "\n", omittingEmptySubsequences: false) {
                if line.hasPrefix("class ") {
                    if inClass { break }
                    inClass = line.hasPrefix("class \(className)(")
                    continue
                }
                guard inClass else { continue }
                let trimmed = line.drop { $0 == " " }
                guard trimmed.hasPrefix("__parameters__ = [") || trimmed.hasPrefix("__buffers__ = [") else {
                    if trimmed.hasPrefix("def ") { break }
                    continue
                }
                sawDeclaration = true
                // ["weight", "bias", ] -> the quoted names.
                for (index, part) in trimmed.split(separator: "\"", omittingEmptySubsequences: false).enumerated()
                where index % 2 == 1 {
                    names.insert(String(part))
                }
            }
            return sawDeclaration ? names : nil
        }
    }

    /// The product of `values`, or nil when it overflows.
    static func checkedProduct(_ values: [Int]) -> Int? {
        var product = 1
        for value in values {
            let (result, overflow) = product.multipliedReportingOverflow(by: value)
            if overflow { return nil }
            product = result
        }
        return product
    }

    /// The storage index of the view's last element, or nil when it overflows.
    private static func lastElementIndex(_ tensor: PickleTensor) -> Int? {
        var last = tensor.offset
        for (size, stride) in zip(tensor.shape, tensor.strides) where size > 0 {
            guard let step = checkedProduct([size - 1, stride]) else { return nil }
            let (sum, overflow) = last.addingReportingOverflow(step)
            if overflow { return nil }
            last = sum
        }
        return last
    }

    static func dtype(ofStorage type: String) -> WeightDType? {
        switch type.split(separator: ".").last ?? "" {
        case "FloatStorage": .f32
        case "HalfStorage": .f16
        case "BFloat16Storage": .bf16
        case "DoubleStorage": .f64
        case "LongStorage": .i64
        case "IntStorage": .i32
        case "ShortStorage": .i16
        case "CharStorage": .i8
        case "ByteStorage": .u8
        case "BoolStorage": .bool
        default: nil
        }
    }

    private static func isContiguous(_ shape: [Int], _ strides: [Int]) -> Bool {
        var expected = 1
        for axis in stride(from: shape.count - 1, through: 0, by: -1) {
            if shape[axis] != 1, strides[axis] != expected { return false }
            expected *= shape[axis]
        }
        return true
    }
}
