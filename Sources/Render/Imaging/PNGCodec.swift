import CImageIO
import Foundation

extension Image {
    /// PNG bytes of this image (8-bit gray, gray+alpha, RGB or RGBA by channel count).
    public func pngData() throws -> Data {
        guard width > 0 && height > 0 else {
            throw ImageError("cannot encode an empty \(width)x\(height) image as PNG")
        }
        var errorText = [CChar](repeating: 0, count: Int(CIO_MESSAGE_SIZE))
        var output: UnsafeMutablePointer<UInt8>?
        var outputSize = 0
        let status = pixels.withUnsafeBufferPointer {
            cio_png_encode($0.baseAddress, UInt32(width), UInt32(height), Int32(channels),
                           &output, &outputSize, &errorText)
        }
        guard status == 0, let output else {
            let text = errorText.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            throw ImageError("cannot encode PNG: \(text)")
        }
        defer { cio_free(output) }
        return Data(bytes: output, count: outputSize)
    }

    /// Writes this image as a PNG file.
    public func writePNG(to url: URL) throws {
        let data = try pngData()
        do {
            try data.write(to: url, options: .atomic)
        } catch {
            throw ImageError("\(url.path): cannot write PNG (\(error.localizedDescription))")
        }
    }

    /// Writes this image as a PNG file at a path.
    public func writePNG(path: String) throws {
        try writePNG(to: URL(fileURLWithPath: path))
    }
}
