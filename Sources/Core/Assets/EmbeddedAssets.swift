import CAssets
import Foundation

/// Files shipped inside the binary (see Assets/README.md).
public enum EmbeddedAssets {
    /// CLIP's BPE merges, gzip-compressed as OpenAI ships them.
    public static var bpeVocabGzip: Data { bytes(clipscope_asset_bpe_vocab_bytes) }

    /// The 1000 ImageNet class names, in class-index order, as a JSON array.
    public static var imageNetLabelsJSON: Data { bytes(clipscope_asset_imagenet_labels_bytes) }

    public static var imageNetLabels: [String] {
        // The asset is fixed at build time; a test decodes it.
        (try? JSONDecoder().decode([String].self, from: imageNetLabelsJSON)) ?? []
    }

    /// Assets/concept-words.txt: a word or phrase per line ('#' comments), for proposing neuron labels.
    public static var conceptWordsText: String { String(decoding: bytes(clipscope_asset_concept_words_bytes), as: UTF8.self) }

    /// The toy-world CLIP trained by `clipscope toy train` (float16 safetensors; the
    /// command and seed that made it are in its metadata and in Assets/README.md).
    public static var toyModelSafetensors: UnsafeRawBufferPointer {
        var count = 0
        let start = clipscope_asset_toy_model_bytes(&count)
        return UnsafeRawBufferPointer(start: start, count: count)
    }

    private static func bytes(_ accessor: (UnsafeMutablePointer<Int>) -> UnsafePointer<UInt8>?) -> Data {
        var count = 0
        guard let start = accessor(&count) else { return Data() }
        return Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: start), count: count, deallocator: .none)
    }
}
