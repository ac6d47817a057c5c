import Foundation

/// A value built by the pickle machine. Lists, dicts and objects are references, as in Python,
/// because pickles mutate them after memoising them (APPENDS, SETITEMS, BUILD).
indirect enum PickleValue {
    case none
    case bool(Bool)
    case int(Int)
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case tuple([PickleValue])
    case list(PickleList)
    case dict(PickleDict)
    /// A class or function named by GLOBAL / STACK_GLOBAL: "module.qualname".
    case global(String)
    /// An instance: NEWOBJ of a class, or REDUCE of a callable we do not interpret.
    case object(PickleObject)
    /// What BINPERSID resolved: the persistent id tuple, left for the caller to interpret.
    case persistent(PickleValue)
    /// `torch._utils._rebuild_tensor_v2(...)`.
    case tensor(PickleTensor)
    /// A MARK on the stack (never escapes the machine).
    case mark

    var string: String? { if case .string(let s) = self { s } else { nil } }
    var int: Int? {
        switch self {
        case .int(let i): i
        case .bool(let b): b ? 1 : 0
        default: nil
        }
    }
    var tuple: [PickleValue]? {
        switch self {
        case .tuple(let items): items
        case .list(let list): list.items
        default: nil
        }
    }
}

final class PickleList { var items: [PickleValue] = [] }

final class PickleDict { var pairs: [(key: PickleValue, value: PickleValue)] = [] }

final class PickleObject {
    let type: String
    let arguments: [PickleValue]
    /// What BUILD set (a module's attribute dict, for torch modules).
    var state: PickleValue?
    init(type: String, arguments: [PickleValue]) {
        self.type = type
        self.arguments = arguments
    }
}

/// A tensor as pickled by torch: a view (offset, size, stride, in elements) into a storage.
struct PickleTensor {
    /// The storage class, e.g. "torch.HalfStorage".
    let storageType: String
    /// The storage's key: its file is `<root>/data/<key>`.
    let storageKey: String
    let storageElementCount: Int
    let offset: Int
    let shape: [Int]
    let strides: [Int]
}

/// A pickle interpreter for the opcodes torch writes (protocol 2 from `torch.jit.save`, protocol 2–5
/// from `torch.save`). It never runs code: globals are names, REDUCE builds inert objects except for
/// the few torch rebuild functions and OrderedDict, which it understands.
struct PickleMachine {
    let data: UnsafeRawBufferPointer
    /// Names the input in errors, e.g. "model.pt (model/data.pkl)".
    let source: String
    /// Guards against pathological inputs (deep MARK nesting or a huge memo) in foreign files.
    static let maximumStackDepth = 10_000_000

    private var position = 0
    private var stack: [PickleValue] = []
    private var marks: [Int] = []
    private var memo: [Int: PickleValue] = [:]

    init(data: UnsafeRawBufferPointer, source: String) {
        self.data = data
        self.source = source
    }

    private func fail(_ detail: String) -> WeightsError { WeightsError("\(source): \(detail)") }

    private mutating func byte() throws -> UInt8 {
        guard position < data.count else { throw fail("truncated pickle (ends before STOP)") }
        defer { position += 1 }
        return data[position]
    }

    private mutating func take(_ count: Int) throws -> UnsafeRawBufferPointer {
        guard count >= 0, count <= data.count - position else { throw fail("truncated pickle (ends inside an argument)") }
        defer { position += count }
        return UnsafeRawBufferPointer(rebasing: data[position ..< position + count])
    }

    private mutating func unsigned(_ width: Int) throws -> Int {
        let bytes = try take(width)
        var value: UInt64 = 0
        for (index, byte) in bytes.enumerated() { value |= UInt64(byte) << (8 * UInt64(index)) }
        guard value <= UInt64(Int.max) else { throw fail("pickle length out of range") }
        return Int(value)
    }

    private mutating func line() throws -> String {
        guard let end = data[position...].firstIndex(of: UInt8(ascii: "\n")) else { throw fail("truncated pickle (unterminated line)") }
        defer { position = end + 1 }
        return String(decoding: data[position ..< end], as: UTF8.self)
    }

    private mutating func pop() throws -> PickleValue {
        guard let value = stack.popLast() else { throw fail("malformed pickle (pop from an empty stack)") }
        if case .mark = value { throw fail("malformed pickle (unexpected MARK)") }
        return value
    }

    private mutating func popToMark() throws -> [PickleValue] {
        guard let mark = marks.popLast(), mark <= stack.count else { throw fail("malformed pickle (no MARK)") }
        let items = Array(stack[mark...])
        stack.removeSubrange(mark...)
        return items
    }

    private mutating func push(_ value: PickleValue) throws {
        guard stack.count < Self.maximumStackDepth else { throw fail("pickle stack too deep") }
        stack.append(value)
    }

    /// Runs the pickle to STOP and returns its result.
    mutating func run() throws -> PickleValue {
        while true {
            let opcodeOffset = position
            let opcode = try byte()
            switch opcode {
            case 0x80: _ = try byte()                                   // PROTO
            case 0x95: _ = try take(8)                                  // FRAME (we hold the whole pickle)
            case UInt8(ascii: "."): return try pop()                    // STOP
            case UInt8(ascii: "("):                                     // MARK
                marks.append(stack.count)
            case UInt8(ascii: "0"): _ = try pop()                       // POP
            case UInt8(ascii: "1"): _ = try popToMark()                 // POP_MARK
            case UInt8(ascii: "2"):                                     // DUP
                let top = try pop(); try push(top); try push(top)
            case UInt8(ascii: "N"): try push(.none)
            case 0x88: try push(.bool(true))                            // NEWTRUE
            case 0x89: try push(.bool(false))                           // NEWFALSE
            case UInt8(ascii: "J"):                                     // BININT
                try push(.int(Int(Int32(bitPattern: UInt32(try unsigned(4))))))
            case UInt8(ascii: "K"): try push(.int(try unsigned(1)))     // BININT1
            case UInt8(ascii: "M"): try push(.int(try unsigned(2)))     // BININT2
            case 0x8a: try push(try long(try unsigned(1)))              // LONG1
            case 0x8b: try push(try long(try unsigned(4)))              // LONG4
            case UInt8(ascii: "I"):                                     // INT (text)
                let text = try line()
                if text == "00" { try push(.bool(false)) } else if text == "01" { try push(.bool(true)) }
                else if let value = Int(text) { try push(.int(value)) } else { throw fail("bad INT '\(text)'") }
            case UInt8(ascii: "L"):                                     // LONG (text)
                var text = try line()
                if text.hasSuffix("L") { text.removeLast() }
                guard let value = Int(text) else { throw fail("integer too large") }
                try push(.int(value))
            case UInt8(ascii: "G"):                                     // BINFLOAT (big-endian)
                let bytes = try take(8)
                var bits: UInt64 = 0
                for byte in bytes { bits = bits << 8 | UInt64(byte) }
                try push(.float(Double(bitPattern: bits)))
            case UInt8(ascii: "F"):                                     // FLOAT (text)
                let text = try line()
                guard let value = Double(text) else { throw fail("bad FLOAT '\(text)'") }
                try push(.float(value))
            case UInt8(ascii: "X"): try push(.string(try utf8(try unsigned(4))))    // BINUNICODE
            case 0x8c: try push(.string(try utf8(try unsigned(1))))                 // SHORT_BINUNICODE
            case 0x8d: try push(.string(try utf8(try unsigned(8))))                 // BINUNICODE8
            case UInt8(ascii: "T"): try push(.string(try latin1(try unsigned(4))))  // BINSTRING
            case UInt8(ascii: "U"): try push(.string(try latin1(try unsigned(1))))  // SHORT_BINSTRING
            case UInt8(ascii: "B"): try push(.bytes(Array(try take(try unsigned(4)))))  // BINBYTES
            case UInt8(ascii: "C"): try push(.bytes(Array(try take(try unsigned(1)))))  // SHORT_BINBYTES
            case 0x8e: try push(.bytes(Array(try take(try unsigned(8)))))               // BINBYTES8
            case UInt8(ascii: ")"): try push(.tuple([]))                // EMPTY_TUPLE
            case UInt8(ascii: "t"): try push(.tuple(try popToMark()))   // TUPLE
            case 0x85: try push(.tuple([try pop()]))                    // TUPLE1
            case 0x86:                                                  // TUPLE2
                let second = try pop(), first = try pop()
                try push(.tuple([first, second]))
            case 0x87:                                                  // TUPLE3
                let third = try pop(), second = try pop(), first = try pop()
                try push(.tuple([first, second, third]))
            case UInt8(ascii: "]"): try push(.list(PickleList()))       // EMPTY_LIST
            case UInt8(ascii: "l"):                                     // LIST
                let list = PickleList(); list.items = try popToMark(); try push(.list(list))
            case UInt8(ascii: "}"): try push(.dict(PickleDict()))       // EMPTY_DICT
            case UInt8(ascii: "d"):                                     // DICT
                let dict = PickleDict(); try addPairs(try popToMark(), to: dict); try push(.dict(dict))
            case 0x8f: try push(.list(PickleList()))                    // EMPTY_SET (kept as a list)
            case 0x90:                                                  // ADDITEMS
                let items = try popToMark()
                guard case .list(let set) = try top() else { throw fail("ADDITEMS on a non-set") }
                set.items += items
            case 0x91:                                                  // FROZENSET
                let set = PickleList(); set.items = try popToMark(); try push(.list(set))
            case UInt8(ascii: "a"):                                     // APPEND
                let item = try pop()
                guard case .list(let list) = try top() else { throw fail("APPEND to a non-list") }
                list.items.append(item)
            case UInt8(ascii: "e"):                                     // APPENDS
                let items = try popToMark()
                guard case .list(let list) = try top() else { throw fail("APPENDS to a non-list") }
                list.items += items
            case UInt8(ascii: "s"):                                     // SETITEM
                let value = try pop(), key = try pop()
                guard case .dict(let dict) = try top() else { throw fail("SETITEM on a non-dict") }
                dict.pairs.append((key, value))
            case UInt8(ascii: "u"):                                     // SETITEMS
                let items = try popToMark()
                guard case .dict(let dict) = try top() else { throw fail("SETITEMS on a non-dict") }
                try addPairs(items, to: dict)
            case UInt8(ascii: "c"):                                     // GLOBAL "module\nname\n"
                let module = try line(), name = try line()
                try push(.global("\(module).\(name)"))
            case 0x93:                                                  // STACK_GLOBAL
                let name = try pop(), module = try pop()
                guard let moduleName = module.string, let qualifiedName = name.string else { throw fail("STACK_GLOBAL of non-strings") }
                try push(.global("\(moduleName).\(qualifiedName)"))
            case UInt8(ascii: "R"):                                     // REDUCE
                let arguments = try pop(), callable = try pop()
                try push(try reduce(callable, arguments.tuple ?? [arguments]))
            case 0x81:                                                  // NEWOBJ
                let arguments = try pop(), type = try pop()
                try push(try instantiate(type, arguments.tuple ?? []))
            case 0x92:                                                  // NEWOBJ_EX
                _ = try pop()
                let arguments = try pop(), type = try pop()
                try push(try instantiate(type, arguments.tuple ?? []))
            case UInt8(ascii: "b"):                                     // BUILD
                let state = try pop()
                switch try top() {
                case .object(let object): object.state = state
                case .dict, .list, .tensor, .none: break  // OrderedDict's _metadata, tensor hooks: not needed
                default: throw fail("BUILD on an unexpected value")
                }
            case UInt8(ascii: "Q"):                                     // BINPERSID
                try push(.persistent(try pop()))
            case UInt8(ascii: "q"): memo[try unsigned(1)] = try top()   // BINPUT
            case UInt8(ascii: "r"): memo[try unsigned(4)] = try top()   // LONG_BINPUT
            case 0x94: memo[memo.count] = try top()                     // MEMOIZE
            case UInt8(ascii: "p"):                                     // PUT (text)
                guard let index = Int(try line()) else { throw fail("bad PUT") }
                memo[index] = try top()
            case UInt8(ascii: "h"): try push(try recall(try unsigned(1)))   // BINGET
            case UInt8(ascii: "j"): try push(try recall(try unsigned(4)))   // LONG_BINGET
            case UInt8(ascii: "g"):                                         // GET (text)
                guard let index = Int(try line()) else { throw fail("bad GET") }
                try push(try recall(index))
            default:
                throw fail(String(format: "unsupported pickle opcode 0x%02x at byte %d", opcode, opcodeOffset))
            }
        }
    }

    private func top() throws -> PickleValue {
        guard let value = stack.last else { throw fail("malformed pickle (empty stack)") }
        return value
    }

    private func recall(_ index: Int) throws -> PickleValue {
        guard let value = memo[index] else { throw fail("malformed pickle (memo \(index) never stored)") }
        return value
    }

    private mutating func utf8(_ count: Int) throws -> String {
        String(decoding: try take(count), as: UTF8.self)
    }

    private mutating func latin1(_ count: Int) throws -> String {
        String(try take(count).map { Character(Unicode.Scalar($0)) })
    }

    /// A little-endian two's-complement integer of `count` bytes (LONG1 / LONG4).
    private mutating func long(_ count: Int) throws -> PickleValue {
        let bytes = try take(count)
        guard count <= 8 else { throw fail("integer of \(count) bytes is too large") }
        if count == 0 { return .int(0) }
        var value: UInt64 = 0
        for (index, byte) in bytes.enumerated() { value |= UInt64(byte) << (8 * UInt64(index)) }
        if count < 8, bytes[count - 1] & 0x80 != 0 { value |= ~UInt64(0) << (8 * UInt64(count)) }
        return .int(Int(Int64(bitPattern: value)))
    }

    private func addPairs(_ items: [PickleValue], to dict: PickleDict) throws {
        guard items.count % 2 == 0 else { throw fail("malformed pickle (odd SETITEMS)") }
        for index in stride(from: 0, to: items.count, by: 2) { dict.pairs.append((items[index], items[index + 1])) }
    }

    private func instantiate(_ type: PickleValue, _ arguments: [PickleValue]) throws -> PickleValue {
        guard case .global(let name) = type else { throw fail("NEWOBJ of a non-class") }
        if name == "collections.OrderedDict" || name == "builtins.dict" { return .dict(PickleDict()) }
        return .object(PickleObject(type: name, arguments: arguments))
    }

    /// Interprets the callables torch pickles; any other REDUCE becomes an inert object.
    private func reduce(_ callable: PickleValue, _ arguments: [PickleValue]) throws -> PickleValue {
        guard case .global(let name) = callable else {
            return .object(PickleObject(type: "?", arguments: arguments))
        }
        switch name {
        case "collections.OrderedDict", "builtins.dict":
            let dict = PickleDict()
            if let pairs = arguments.first?.tuple {
                for pair in pairs { if let kv = pair.tuple, kv.count == 2 { dict.pairs.append((kv[0], kv[1])) } }
            }
            return .dict(dict)
        case "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor":
            return .tensor(try rebuildTensor(arguments))
        case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state":
            // Parameter(data, requires_grad, hooks): the data is the tensor.
            guard let first = arguments.first else { throw fail("malformed _rebuild_parameter") }
            return first
        case "torch._tensor._rebuild_from_type_v2", "torch._tensor._rebuild_from_type":
            // (function, type, args, state): rebuild with the inner function, ignore the subclass.
            guard arguments.count >= 3, let innerArguments = arguments[2].tuple else { throw fail("malformed _rebuild_from_type") }
            return try reduce(arguments[0], innerArguments)
        default:
            return .object(PickleObject(type: name, arguments: arguments))
        }
    }

    private func rebuildTensor(_ arguments: [PickleValue]) throws -> PickleTensor {
        guard arguments.count >= 4,
              case .persistent(let id) = arguments[0], let idFields = id.tuple, idFields.count >= 5,
              idFields[0].string == "storage",
              case .global(let storageType) = idFields[1],
              let storageKey = idFields[2].string ?? idFields[2].int.map(String.init),
              let storageCount = idFields[4].int,
              let offset = arguments[1].int,
              let sizeValues = arguments[2].tuple, let strideValues = arguments[3].tuple
        else {
            throw fail("malformed tensor (an unexpected _rebuild_tensor_v2 argument)")
        }
        let shape = sizeValues.compactMap(\.int)
        let strides = strideValues.compactMap(\.int)
        guard shape.count == sizeValues.count, strides.count == shape.count,
              shape.allSatisfy({ $0 >= 0 }), strides.allSatisfy({ $0 >= 0 }), offset >= 0, storageCount >= 0
        else {
            throw fail("malformed tensor (size \(sizeValues.count) and stride \(strideValues.count) disagree)")
        }
        return PickleTensor(storageType: storageType, storageKey: storageKey, storageElementCount: storageCount,
                            offset: offset, shape: shape, strides: strides)
    }
}
