#ifndef CLIPSCOPE_ASSETS_H
#define CLIPSCOPE_ASSETS_H
#include <stddef.h>

/// The bytes of one embedded asset file; `count` receives its size.
const unsigned char *clipscope_asset_bpe_vocab_bytes(size_t *count);
const unsigned char *clipscope_asset_imagenet_labels_bytes(size_t *count);
const unsigned char *clipscope_asset_concept_words_bytes(size_t *count);
const unsigned char *clipscope_asset_toy_model_bytes(size_t *count);

#endif
