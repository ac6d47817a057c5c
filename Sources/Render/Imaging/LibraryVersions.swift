import CFreeType
import CJPEG
import CPNG
import CZlib

/// Versions of the image and font libraries Imaging links, for `clipscope version`.
public enum ImagingLibraries {
    public static var versions: [(name: String, version: String)] {
        var ftLibrary: FT_Library?
        var freetype = "unavailable"
        if FT_Init_FreeType(&ftLibrary) == 0, let ftLibrary {
            var major: FT_Int = 0, minor: FT_Int = 0, patch: FT_Int = 0
            FT_Library_Version(ftLibrary, &major, &minor, &patch)
            freetype = "\(major).\(minor).\(patch)"
            FT_Done_FreeType(ftLibrary)
        }
        let png = png_access_version_number()
        return [
            ("libpng", "\(png / 10000).\(png / 100 % 100).\(png % 100)"),
            ("libjpeg", "API \(JPEG_LIB_VERSION)"),
            ("freetype", freetype),
            ("zlib", String(cString: zlibVersion())),
        ]
    }
}
