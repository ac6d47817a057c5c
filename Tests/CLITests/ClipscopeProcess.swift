import Foundation

/// Starts the built clipscope with `arguments`, its stdout and stderr going to files in
/// `scratch` (so large outputs cannot block); returns the process and the two files.
func startClipscope(_ arguments: [String], scratch: URL) throws -> (process: Process, stdout: URL, stderr: URL) {
    let process = Process()
    process.executableURL = CLITests.binary
    process.arguments = arguments
    let out = scratch.appendingPathComponent("out-\(UUID().uuidString)"), err = scratch.appendingPathComponent("err-\(UUID().uuidString)")
    FileManager.default.createFile(atPath: out.path, contents: nil)
    FileManager.default.createFile(atPath: err.path, contents: nil)
    process.standardOutput = try FileHandle(forWritingTo: out)
    process.standardError = try FileHandle(forWritingTo: err)
    try process.run()
    return (process, out, err)
}
