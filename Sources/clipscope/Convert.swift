import ArgumentParser
import Foundation
import Weights

struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Convert a weights file (OpenAI TorchScript .pt, torch.save zip or safetensors) to safetensors.",
        discussion: """
            Writes the same keys and values. By default each tensor keeps its dtype (OpenAI's \
            files are mostly fp16 with fp32 batch norms); --dtype f32, f16 or bf16 converts every \
            floating-point tensor (integer tensors such as num_batches_tracked keep theirs). \
            The scalars OpenAI stores next to the weights (input_resolution, context_length, \
            vocab_size) are not weights and are left out.
            """)

    @Argument(help: "The weights file to read.")
    var input: String

    @Argument(help: "The .safetensors file to write (replaced if it exists).")
    var output: String

    @Option(help: "Element type for floating-point tensors: keep, f32, f16 or bf16.")
    var dtype: WeightConversion.TargetDType = .keep

    func run() throws {
        let start = Date()
        let summary = try WeightConversion.convert(input: input, output: output, dtype: dtype)
        let megabytes = Double(summary.bytes) / 1_048_576
        print("wrote \(summary.tensors) tensors (\(summary.parameters) values, \(String(format: "%.1f", megabytes)) MiB) "
            + "from \(summary.inputFormat.rawValue) to \(output) in \(String(format: "%.2f", Date().timeIntervalSince(start))) s")
    }
}

extension WeightConversion.TargetDType: ExpressibleByArgument {}
