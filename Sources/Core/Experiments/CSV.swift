import Foundation

/// The project's one CSV reader and writer, RFC 4180 both ways: commas separate fields, CRLF or LF
/// ends a record, and a field in double quotes may hold commas, quotes (doubled) and line breaks.
public enum CSV {
    /// One record and the line of the file it starts on (from 1), for errors that point at it.
    public struct Record: Equatable, Sendable {
        public var fields: [String]
        public var line: Int
    }

    public struct MalformedFile: Error, Equatable {
        public let line: Int
        public let reason: String
    }

    /// The records of `text`, a leading UTF-8 byte order mark dropped (spreadsheets write one).
    /// A quote opening a field (after spaces) starts a quoted field; a quote elsewhere is kept as written.
    public static func records(_ text: String) throws(MalformedFile) -> [Record] {
        var scalars = Substring(text).unicodeScalars[...]
        if scalars.first == "\u{FEFF}" { scalars = scalars.dropFirst() }
        var records: [Record] = []
        var fields: [String] = [], field = String.UnicodeScalarView()
        var line = 1, recordLine = 1, quotedSince: Int?
        var iterator = scalars.makeIterator()
        var pending: Unicode.Scalar?
        func endField() { fields.append(String(field)); field = String.UnicodeScalarView() }
        func endRecord() {
            endField()
            records.append(Record(fields: fields, line: recordLine))
            fields = []
            recordLine = line
        }
        while let scalar = pending ?? iterator.next() {
            pending = nil
            if quotedSince != nil {
                if scalar == "\"" {
                    if let next = iterator.next() {
                        if next == "\"" { field.append("\"") } else { quotedSince = nil; pending = next }
                    } else { quotedSince = nil }
                } else {
                    if scalar == "\n" { line += 1 }
                    field.append(scalar)
                }
            } else if scalar == "\"", field.allSatisfy({ $0 == " " || $0 == "\t" }) {
                field = String.UnicodeScalarView()
                quotedSince = line
            } else if scalar == "," {
                endField()
            } else if scalar == "\r" {
                // CRLF ends a record; a lone CR is kept.
                let next = iterator.next()
                if next == "\n" { line += 1; endRecord() } else { field.append(scalar); pending = next }
            } else if scalar == "\n" {
                line += 1
                endRecord()
            } else {
                field.append(scalar)
            }
        }
        if let quotedSince { throw MalformedFile(line: quotedSince, reason: "a quoted field is never closed") }
        if !fields.isEmpty || !field.isEmpty { endRecord() }
        return records
    }

    /// One record, without its line end: a field holding a comma, quote or line break is quoted, its quotes doubled.
    public static func line(_ fields: [String]) -> String {
        fields.map { field in
            field.unicodeScalars.contains { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }
                ? "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : field
        }.joined(separator: ",")
    }

    /// A whole file: the header, then the rows, each ending in LF.
    public static func document(header: [String], rows: [[String]]) -> String {
        ([header] + rows).map { line($0) + "\n" }.joined()
    }
}
