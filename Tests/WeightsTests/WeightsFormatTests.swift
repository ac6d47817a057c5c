import Foundation
@testable import Weights
import XCTest

/// Both committed model files (written by PyTorch) load to the same weights, with the dtypes torch wrote.
final class WeightsFormatTests: XCTestCase {
    func testTorchScriptAndSafetensorsHoldIdenticalWeights() throws {
        let torchScript = try WeightArchive.open(WeightsFixtures.path("model.pt"))
        let safetensors = try WeightArchive.open(WeightsFixtures.path("model.safetensors"))
        XCTAssertEqual(torchScript.format, .torchScript)
        XCTAssertEqual(safetensors.format, .safetensors)
        XCTAssertEqual(torchScript.metadata["root"], "model")
        XCTAssertEqual(Set(torchScript.keys), Set(safetensors.keys))
        XCTAssertEqual(torchScript.keys.count, 171)
        for key in safetensors.keys {
            XCTAssertEqual(torchScript.info(key), safetensors.info(key), key)
            let fromTorch = try torchScript.floats(key).map(\.bitPattern)
            let fromSafetensors = try safetensors.floats(key).map(\.bitPattern)
            XCTAssertEqual(fromTorch, fromSafetensors, key)
        }
    }

    func testDtypesAndShapesAreThoseTorchWrote() throws {
        let expectedWeights = try XCTUnwrap(WeightsFixtures.expected["weights"] as? [String: [String: Any]])
        let torchDTypes: [String: WeightDType] = ["float16": .f16, "float32": .f32, "int64": .i64]
        for path in ["model.pt", "model.safetensors"] {
            let archive = try WeightArchive.open(WeightsFixtures.path(path))
            XCTAssertEqual(Set(archive.keys), Set(expectedWeights.keys), path)
            for (key, fields) in expectedWeights {
                let info = try XCTUnwrap(archive.info(key), key)
                XCTAssertEqual(info.shape, fields["shape"] as? [Int], "\(path) \(key)")
                XCTAssertEqual(info.dtype, torchDTypes[fields["dtype"] as? String ?? ""], "\(path) \(key)")
            }
        }
        let archive = try WeightArchive.open(WeightsFixtures.path("model.pt"))
        // Mixed as OpenAI converts: convs fp16, batch norm fp32, counters int64, logit_scale a 0-d fp32.
        XCTAssertEqual(archive.info("visual.layer4.0.conv3.weight")?.dtype, .f16)
        XCTAssertEqual(archive.info("visual.layer4.0.bn3.running_var")?.dtype, .f32)
        XCTAssertEqual(archive.info("visual.bn1.num_batches_tracked")?.dtype, .i64)
        XCTAssertEqual(archive.info("logit_scale")?.shape, [])
        XCTAssertEqual(try archive.floats("logit_scale")[0], Float(log(1 / 0.07)), accuracy: 1e-6)
        // The archive's scalars are not weights.
        for scalar in ["input_resolution", "context_length", "vocab_size"] { XCTAssertNil(archive.info(scalar)) }
    }

    func testReadIntoBufferMatchesFloats() throws {
        let archive = try WeightArchive.open(WeightsFixtures.path("model.pt"))
        let key = "transformer.resblocks.1.attn.in_proj_weight"
        let values = try archive.floats(key)
        var buffer = [Float](repeating: .nan, count: values.count)
        try buffer.withUnsafeMutableBufferPointer { try archive.read(key, into: $0) }
        XCTAssertEqual(buffer, values)
        var tooSmall = [Float](repeating: 0, count: 3)
        let message = WeightsFixtures.assertOneLineError(naming: "model.pt") {
            try tooSmall.withUnsafeMutableBufferPointer { try archive.read(key, into: $0) }
        }
        XCTAssertTrue(message?.contains(key) ?? false)
    }

    /// `torch.save(state_dict)` zips: every dtype, a storage offset, a transposed view, special half values,
    /// and the same archive with ZIP64 fields everywhere.
    func testTorchSaveStateDictsMatchPyTorchBitForBit() throws {
        let expected = try XCTUnwrap(WeightsFixtures.expected["tiny_state_dict"] as? [String: [String: Any]])
        for name in ["tiny_state_dict.pt", "tiny_state_dict_zip64.pt"] {
            let archive = try WeightArchive.open(WeightsFixtures.path(name))
            XCTAssertEqual(archive.format, .torchStateDict, name)
            XCTAssertEqual(Set(archive.keys), Set(expected.keys), name)
            for (key, fields) in expected {
                let info = try XCTUnwrap(archive.info(key))
                XCTAssertEqual(info.shape, fields["shape"] as? [Int], "\(name) \(key)")
                // Bit for bit, except that any NaN equals any NaN (torch and IEEE disagree on payloads).
                let canonical = { (value: Float) in value.isNaN ? Float.nan.bitPattern : value.bitPattern }
                let bits = try XCTUnwrap(fields["float32_bits"] as? [Int]).map { canonical(Float(bitPattern: UInt32(bitPattern: Int32($0)))) }
                XCTAssertEqual(try archive.floats(key).map(canonical), bits, "\(name) \(key)")
            }
            XCTAssertEqual(archive.info("bf16")?.dtype, .bf16)
            XCTAssertEqual(archive.info("f64")?.dtype, .f64)
            XCTAssertEqual(archive.info("offset_view").map { try? archive.floats($0.key) }, [5, 6, 7, 8, 9, 10])
        }
    }

    /// A scripted module's data.pkl also holds plain tensor attributes; only parameters and buffers are weights.
    func testScriptedModuleKeepsOnlyParametersAndBuffers() throws {
        let archive = try WeightArchive.open(WeightsFixtures.path("tiny_scripted.pt"))
        XCTAssertEqual(archive.format, .torchScript)
        XCTAssertEqual(archive.keys, ["weight", "running", "child.weight"])
        XCTAssertEqual(archive.info("weight")?.dtype, .f16)
        XCTAssertEqual(try archive.floats("weight"), [1, 2])
        XCTAssertEqual(try archive.floats("running"), [3, 4])
        XCTAssertEqual(try archive.floats("child.weight"), [0, 1, 2, 3])
        XCTAssertEqual(TorchArchiveReader.StateDeclarations.parse(
            "class A(Module):\n  __parameters__ = [\"w\", ]\n  __buffers__ = [\"b\", \"c\", ]\n  w : Tensor\nclass B(Module):\n  __parameters__ = [\"x\", ]\n",
            className: "A"), ["w", "b", "c"])
        XCTAssertNil(TorchArchiveReader.StateDeclarations.parse("class A(Module):\n  w : Tensor\n", className: "A"))
    }

    func testDeflatedZipEntriesInflate() throws {
        let file = try MappedFile(path: WeightsFixtures.path("model.pt"))
        let zip = try ZipArchive(bytes: file.bytes, path: file.path)
        let code = try XCTUnwrap(zip.entry("model/code/__torch__/torch/nn/modules/batchnorm.py"))
        XCTAssertEqual(code.method, 8, "torch deflates its code entries")
        let text = try zip.contents(code, limit: TorchArchiveReader.metadataLimit, need: "a code file may take").withBytes { String(decoding: $0, as: UTF8.self) }
        XCTAssertEqual(text.utf8.count, code.uncompressedSize)
        XCTAssertTrue(text.contains("class BatchNorm2d(Module):"))
    }

    func testHalfConversionIsExactForAllSixtyFiveThousandValues() {
        var halves = (0 ... 0xffff).map { UInt16($0) }
        var converted = [Float](repeating: 0, count: halves.count)
        halves.withUnsafeMutableBytes { source in
            ElementConversion.toFloat(.f16, from: source.baseAddress!, count: 65_536, into: &converted)
        }
        for bits in 0 ... 0xffff {
            let oracle = Float(Float16(bitPattern: UInt16(bits)))
            if oracle.isNaN {
                XCTAssertTrue(converted[bits].isNaN, "half 0x\(String(bits, radix: 16))")
            } else {
                XCTAssertEqual(converted[bits].bitPattern, oracle.bitPattern, "half 0x\(String(bits, radix: 16))")
            }
        }
        // Unaligned source takes the other path and agrees.
        var unaligned = [UInt8](repeating: 0, count: 7)
        unaligned[1] = 0x00; unaligned[2] = 0x3c  // 1.0
        unaligned[3] = 0x01; unaligned[4] = 0x80  // -smallest subnormal
        var two = [Float](repeating: 0, count: 2)
        unaligned.withUnsafeBytes { ElementConversion.toFloat(.f16, from: $0.baseAddress! + 1, count: 2, into: &two) }
        XCTAssertEqual(two, [1, -Float(Float16(bitPattern: 1))])
    }

    func testBFloat16RoundTrip() {
        // Values with 8 significant bits survive exactly.
        for value: Float in [0, -0.0, 1, -2.5, 3.140625, .infinity, -.infinity, 65280, -0x1p-130] {
            var stored = ElementConversion.floatToBFloat16(value).littleEndian
            var back: Float = .nan
            withUnsafeBytes(of: &stored) { ElementConversion.toFloat(.bf16, from: $0.baseAddress!, count: 1, into: &back) }
            XCTAssertEqual(back.bitPattern, value.bitPattern, "\(value)")
        }
        // Rounds to nearest even: 1 + 2^-8 is a tie between 1 and 1 + 2^-7.
        XCTAssertEqual(ElementConversion.floatToBFloat16(1 + 1.0 / 256), 0x3f80)
        XCTAssertEqual(ElementConversion.floatToBFloat16(1 + 3.0 / 256), 0x3f82)
        XCTAssertTrue(Float(bitPattern: UInt32(ElementConversion.floatToBFloat16(.nan)) << 16).isNaN)
    }
}
