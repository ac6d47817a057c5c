// Embeds the files of Assets/ into the binary. Paths are relative to the
// package root, where SwiftPM runs the compiler.
#define ASSET(sym, file) \
    .section .rodata; .balign 16; .global sym; sym: .incbin file; .global sym##_end; sym##_end: .byte 0

ASSET(clipscope_asset_bpe_vocab, "Assets/bpe_simple_vocab_16e6.txt.gz")
ASSET(clipscope_asset_imagenet_labels, "Assets/imagenet-simple-labels.json")
ASSET(clipscope_asset_concept_words, "Assets/concept-words.txt")
ASSET(clipscope_asset_toy_model, "Assets/toy.safetensors")

    .section .note.GNU-stack,"",@progbits
