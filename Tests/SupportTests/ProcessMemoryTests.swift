import Support
import XCTest

final class ProcessMemoryTests: XCTestCase {
    func testPeakFollowsAnAllocationAndResetsAfterItIsFreed() throws {
        let size = 128 << 20
        XCTAssertTrue(ProcessMemory.resetPeak())
        let before = try XCTUnwrap(ProcessMemory.peakResidentBytes)
        let resident = try XCTUnwrap(ProcessMemory.residentBytes)
        XCTAssertGreaterThan(resident, 0)
        do {
            let buffer = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 4096)
            defer { buffer.deallocate() }
            // Touch every page so that it becomes resident.
            for offset in stride(from: 0, to: size, by: 4096) { buffer.storeBytes(of: UInt8(1), toByteOffset: offset, as: UInt8.self) }
            XCTAssertGreaterThan(try XCTUnwrap(ProcessMemory.peakResidentBytes), before + size * 9 / 10)
        }
        XCTAssertTrue(ProcessMemory.resetPeak())
        XCTAssertLessThan(try XCTUnwrap(ProcessMemory.peakResidentBytes), before + size / 2,
                          "a reset forgets the freed buffer's peak")
    }
}
