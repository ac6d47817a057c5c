// Thin C helpers around libpng and libjpeg: both report fatal errors by longjmp,
// which Swift cannot catch, so every call into them happens here behind setjmp and
// comes back to Swift as a return code plus a one-line message.
#ifndef CIMAGEIO_H
#define CIMAGEIO_H

#include <stddef.h>
#include <stdint.h>

#define CIO_MESSAGE_SIZE 200

// ---- PNG decoding: open (header only) -> read into a caller buffer -> close ----

typedef struct cio_png_info {
    uint32_t width;
    uint32_t height;
    int bit_depth;        // 1, 2, 4, 8 or 16, as stored in the file
    int color_type;       // PNG colour type: 0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA
    int interlaced;       // 1 for Adam7
    int channels;         // samples per pixel of the decoded rows
    size_t row_bytes;     // bytes per decoded row (1/2/4-bit samples unpacked to one byte each)
    int palette_count;    // PLTE entries (colour type 3)
    uint8_t palette[256 * 3];
    int trns_count;       // tRNS: alpha entries for a palette image, or 1 when a gray/RGB key is set
    uint8_t trns_alpha[256];
    uint16_t trns_gray;
    uint16_t trns_rgb[3];
} cio_png_info;

typedef struct cio_png_decoder cio_png_decoder;

/// Reads the signature and header; 0 on success, else message is filled. The decoder
/// borrows `data` until cio_png_close.
int cio_png_open(const uint8_t *data, size_t size, cio_png_decoder **decoder,
                 cio_png_info *info, char message[CIO_MESSAGE_SIZE]);
/// Decodes every row (interlaced or not) into `pixels` (height * row_bytes bytes):
/// samples unpacked to one byte each below 8 bits, big-endian pairs at 16 bits.
int cio_png_read(cio_png_decoder *decoder, uint8_t *pixels, char message[CIO_MESSAGE_SIZE]);
void cio_png_close(cio_png_decoder *decoder);

// ---- PNG encoding of 8-bit gray, gray+alpha, RGB or RGBA ----

/// Encodes into a malloc'ed buffer (*out, *out_size; free with cio_free); 0 on success.
int cio_png_encode(const uint8_t *pixels, uint32_t width, uint32_t height, int channels,
                   uint8_t **out, size_t *out_size, char message[CIO_MESSAGE_SIZE]);
void cio_free(void *pointer);

// ---- JPEG decoding: open (header only) -> read -> close ----

typedef struct cio_jpeg_info {
    uint32_t width;
    uint32_t height;
    int components;       // in the file: 1 gray, 3 YCbCr/RGB, 4 CMYK/YCCK
    int output_components;// what cio_jpeg_read writes: 1 (gray), 3 (RGB) or 4 (CMYK as libjpeg gives it)
    int progressive;
    int adobe_marker;     // 1 when an Adobe APP14 marker was seen
    int adobe_transform;
} cio_jpeg_info;

typedef struct cio_jpeg_decoder cio_jpeg_decoder;

int cio_jpeg_open(const uint8_t *data, size_t size, cio_jpeg_decoder **decoder,
                  cio_jpeg_info *info, char message[CIO_MESSAGE_SIZE]);
/// Decodes with the library defaults (islow IDCT, fancy upsampling) into `pixels`
/// (height * width * output_components bytes). A premature end of data is an error.
int cio_jpeg_read(cio_jpeg_decoder *decoder, uint8_t *pixels, char message[CIO_MESSAGE_SIZE]);
void cio_jpeg_close(cio_jpeg_decoder *decoder);

#endif
