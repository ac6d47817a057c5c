import Foundation
@testable import Imaging
import XCTest

final class PreprocessTests: XCTestCase {
    static let clip = ModelInputPreprocessing(size: 288, mean: [0.48145466, 0.4578275, 0.40821073],
                                              std: [0.26862954, 0.26130258, 0.27577711])

    /// torchvision's Resize(size, BICUBIC) -> CenterCrop -> RGB -> ToTensor -> Normalize
    /// on PIL images of every mode and shape: 8-bit RGB identical, floats within 1e-5.
    func testMatchesTorchvisionOnPillowImages() throws {
        let cases = PixelFixtures.cases("preprocess")
        XCTAssertGreaterThan(cases.count, 60)
        for entry in cases {
            let name = entry["file"] as! String, size = entry["size"] as! Int
            let pipeline = ModelInputPreprocessing(size: size, mean: Self.clip.mean, std: Self.clip.std)
            let decoded = try DecodedImage.load(contentsOf: PixelFixtures.url(name))
            let rgb = pipeline.squareRGB(decoded)
            XCTAssertEqual([rgb.width, rgb.height, rgb.channels], [size, size, 3], name)
            XCTAssertEqual(PixelFixtures.maxDifference(rgb.pixels, PixelFixtures.bytes(entry["rgb"])), 0, "\(name) at \(size)")
            if entry["tensor"] != nil {
                let tensor = pipeline.tensor(decoded)
                let expected = PixelFixtures.floats(entry["tensor"])
                XCTAssertEqual(tensor.count, expected.count)
                let worst = zip(tensor, expected).map { abs($0 - $1) }.max() ?? .infinity
                XCTAssertLessThan(worst, 1e-5, "\(name) at \(size)")
            }
        }
    }

    func testResizeTargetAndCropOffsetsFollowTorchvision() {
        // int(288 * 640 / 480) = 384; int(288 * 451 / 300) = 432 (432.96 truncated).
        XCTAssertTrue(ModelInputPreprocessing.resizedSize(width: 640, height: 480, shorterSide: 288) == (384, 288))
        XCTAssertTrue(ModelInputPreprocessing.resizedSize(width: 300, height: 451, shorterSide: 288) == (288, 432))
        XCTAssertTrue(ModelInputPreprocessing.resizedSize(width: 500, height: 500, shorterSide: 288) == (288, 288))
        // Python's round: halves go to the even neighbour.
        XCTAssertEqual(ModelInputPreprocessing.centerCropOffset(25, 16), 4)   // 4.5 -> 4
        XCTAssertEqual(ModelInputPreprocessing.centerCropOffset(20, 13), 4)   // 3.5 -> 4
        XCTAssertEqual(ModelInputPreprocessing.centerCropOffset(384, 288), 48)
    }

    func testTensorIsPlanarCHW() {
        let pipeline = ModelInputPreprocessing(size: 2, mean: [0, 0.5, 1], std: [1, 0.5, 2])
        let image = Image(width: 2, height: 2, channels: 3, pixels: [255, 0, 51, 0, 255, 102, 255, 255, 0, 0, 0, 255])
        let tensor = pipeline.normalize(image)
        XCTAssertEqual(tensor.count, 12)
        XCTAssertEqual(Array(tensor[0..<4]), [1, 0, 1, 0])
        XCTAssertEqual(Array(tensor[4..<8]), [-1, 1, 1, -1])
        XCTAssertEqual(tensor[8], (Float(51) / 255 - 1) / 2)
    }

    /// Decoding a 640x480 JPEG and preprocessing it to 288x288 (timed; a few ms in release).
    func testDecodeAndPreprocessPhotoTiming() throws {
        let data = try PixelFixtures.data("photo_640x480.jpg")
        var best = Double.infinity
        var tensor: [Float] = []
        for _ in 0..<5 {
            let start = Date()
            let decoded = try DecodedImage.decode(data, name: "photo_640x480.jpg")
            tensor = Self.clip.tensor(decoded)
            best = min(best, Date().timeIntervalSince(start))
        }
        XCTAssertEqual(tensor.count, 3 * 288 * 288)
        print("decode + preprocess 640x480 JPEG -> 288x288: \(String(format: "%.2f", best * 1000)) ms")
    }
}
