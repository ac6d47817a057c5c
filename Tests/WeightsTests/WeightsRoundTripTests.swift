import Foundation
@testable import Weights
import XCTest

/// The safetensors writer and `convert` keep keys, dtypes and values.
final class WeightsRoundTripTests: XCTestCase {
    func testWriterRoundTripsEveryDtype() throws {
        let directory = try WeightsFixtures.scratchDirectory(for: self)
        let path = directory.appendingPathComponent("all.safetensors").path
        let halves: [UInt16] = [0x3c00, 0xc100, 0x0001, 0x7c00]
        let tensors: [SafetensorsWriter.Tensor] = [
            .init(key: "b.f32", shape: [2, 2], floats: [1, -2, 3.5, 0]),
            .init(key: "a.f16", dtype: .f16, shape: [4], data: halves.withUnsafeBytes { Data($0) }),
            .init(key: "scalar", shape: [], floats: [4.25]),
            .init(key: "i64", dtype: .i64, shape: [2], data: [Int64(-3), 5_000_000_000].withUnsafeBytes { Data($0) }),
            .init(key: "name with \"quotes\" and \\ and ü", shape: [1], floats: [7]),
            .init(key: "empty", shape: [0, 3], floats: []),
        ]
        try SafetensorsWriter.write(tensors, to: path, metadata: ["format": "pt", "note": "line\nbreak"])
        let archive = try WeightArchive.open(path)
        XCTAssertEqual(archive.keys, tensors.map(\.key), "file order is write order")
        XCTAssertEqual(archive.metadata, ["format": "pt", "note": "line\nbreak"])
        XCTAssertEqual(try archive.floats("b.f32"), [1, -2, 3.5, 0])
        XCTAssertEqual(try archive.floats("a.f16"), [1, -2.5, Float(Float16(bitPattern: 1)), .infinity])
        XCTAssertEqual(archive.info("scalar")?.shape, [])
        XCTAssertEqual(try archive.floats("scalar"), [4.25])
        XCTAssertEqual(try archive.floats("i64"), [-3, 5e9])
        XCTAssertEqual(try archive.floats("name with \"quotes\" and \\ and ü"), [7])
        XCTAssertEqual(try archive.floats("empty"), [])
        // Data starts 8-byte aligned, as the reference writer pads it.
        let headerLength = try Data(contentsOf: URL(fileURLWithPath: path)).prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
        XCTAssertEqual(headerLength % 8, 0)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path + ".partial"), "written aside, then renamed into place")
    }

    func testAFailedWriteLeavesWhatWasThereAndNoTemporary() throws {
        // A non-empty folder where the file should go: the final rename fails.
        let path = try WeightsFixtures.scratchDirectory(for: self).appendingPathComponent("taken.safetensors").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
        XCTAssertTrue(FileManager.default.createFile(atPath: path + "/kept", contents: Data("x".utf8)))
        XCTAssertThrowsError(try SafetensorsWriter.write([.init(key: "a", shape: [1], floats: [1])], to: path)) { error in
            XCTAssertTrue("\(error)".hasPrefix("\(path): cannot write"), "\(error)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: path + ".partial"))
        XCTAssertEqual(FileManager.default.contents(atPath: path + "/kept"), Data("x".utf8))
    }

    func testWriterRejectsWrongSizesAndDuplicates() throws {
        let path = try WeightsFixtures.scratchDirectory(for: self).appendingPathComponent("bad.safetensors").path
        XCTAssertThrowsError(try SafetensorsWriter.write([.init(key: "a", dtype: .f32, shape: [3], data: Data(count: 8))], to: path))
        XCTAssertThrowsError(try SafetensorsWriter.write([.init(key: "a", shape: [1], floats: [1]),
                                                          .init(key: "a", shape: [1], floats: [2])], to: path))
    }

    func testConvertTorchScriptKeepsDtypesAndValues() throws {
        let directory = try WeightsFixtures.scratchDirectory(for: self)
        let output = directory.appendingPathComponent("converted.safetensors").path
        let summary = try WeightConversion.convert(input: WeightsFixtures.path("model.pt"), output: output)
        XCTAssertEqual(summary.tensors, 171)
        XCTAssertEqual(summary.inputFormat, .torchScript)
        let converted = try WeightArchive.open(output)
        let reference = try WeightArchive.open(WeightsFixtures.path("model.safetensors"))
        XCTAssertEqual(Set(converted.keys), Set(reference.keys))
        for key in reference.keys {
            XCTAssertEqual(converted.info(key), reference.info(key), key)
            try converted.withData(key) { convertedBytes in
                try reference.withData(key) { XCTAssertEqual(convertedBytes, $0, key) }
            }
        }
        XCTAssertEqual(summary.parameters, reference.parameterCount)
    }

    func testConvertToF32AndF16() throws {
        let directory = try WeightsFixtures.scratchDirectory(for: self)
        let source = try WeightArchive.open(WeightsFixtures.path("model.pt"))

        let f32Path = directory.appendingPathComponent("f32.safetensors").path
        _ = try WeightConversion.convert(input: WeightsFixtures.path("model.pt"), output: f32Path, dtype: .f32)
        let f32 = try WeightArchive.open(f32Path)
        for info in source.infos {
            let expectedDType: WeightDType = info.dtype.isFloatingPoint ? .f32 : info.dtype
            XCTAssertEqual(f32.info(info.key), WeightInfo(key: info.key, dtype: expectedDType, shape: info.shape))
            XCTAssertEqual(try f32.floats(info.key), try source.floats(info.key), "fp16 -> fp32 is exact: \(info.key)")
        }

        let f16Path = directory.appendingPathComponent("f16.safetensors").path
        _ = try WeightConversion.convert(input: f32Path, output: f16Path, dtype: .f16)
        let f16 = try WeightArchive.open(f16Path)
        XCTAssertEqual(f16.info("visual.bn1.running_var")?.dtype, .f16)
        XCTAssertEqual(f16.info("visual.bn1.num_batches_tracked")?.dtype, .i64)
        for info in source.infos {
            let rounded = try source.floats(info.key).map { Float(Float16($0)) }
            XCTAssertEqual(try f16.floats(info.key), rounded, info.key)
        }
    }

    func testConvertMaterialisesStridedViews() throws {
        let output = try WeightsFixtures.scratchDirectory(for: self).appendingPathComponent("tiny.safetensors").path
        _ = try WeightConversion.convert(input: WeightsFixtures.path("tiny_state_dict_zip64.pt"), output: output)
        let source = try WeightArchive.open(WeightsFixtures.path("tiny_state_dict.pt"))
        let converted = try WeightArchive.open(output)
        for info in source.infos {
            XCTAssertEqual(converted.info(info.key), info)
            XCTAssertEqual(try converted.floats(info.key).map(\.bitPattern), try source.floats(info.key).map(\.bitPattern), info.key)
        }
    }

    func testConvertRefusesToOverwriteItsInput() throws {
        let directory = try WeightsFixtures.scratchDirectory(for: self)
        let copy = directory.appendingPathComponent("model.safetensors").path
        try FileManager.default.copyItem(atPath: WeightsFixtures.path("model.safetensors"), toPath: copy)
        let alias = directory.appendingPathComponent(".").appendingPathComponent("model.safetensors").path
        _ = WeightsFixtures.assertOneLineError(naming: copy) {
            _ = try WeightConversion.convert(input: copy, output: alias)
        }
        XCTAssertNoThrow(try WeightArchive.open(copy), "the input is untouched")
    }
}

extension WeightArchive {
    /// The tensor's stored bytes, copied (test helper).
    func withData(_ key: String, _ body: (Data) throws -> Void) throws {
        try body(Data(try contiguousData(key)))
    }
}
