#include "CAssets.h"

#define ASSET_ACCESSOR(sym) \
    extern const unsigned char sym[]; \
    extern const unsigned char sym##_end[]; \
    const unsigned char *sym##_bytes(size_t *count) { *count = (size_t)(sym##_end - sym); return sym; }

ASSET_ACCESSOR(clipscope_asset_bpe_vocab)
ASSET_ACCESSOR(clipscope_asset_imagenet_labels)
ASSET_ACCESSOR(clipscope_asset_concept_words)
ASSET_ACCESSOR(clipscope_asset_toy_model)
