#include "CImageIO.h"

#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Where libpng's errors land: the message is kept, then png_longjmp unwinds to the
// setjmp of the cio_* function that made the failing call.
typedef struct cio_png_error_sink {
    char message[CIO_MESSAGE_SIZE];
} cio_png_error_sink;

static void cio_png_error(png_structp png, png_const_charp text) {
    cio_png_error_sink *sink = (cio_png_error_sink *)png_get_error_ptr(png);
    snprintf(sink->message, CIO_MESSAGE_SIZE, "%s", text ? text : "libpng error");
    png_longjmp(png, 1);
}

static void cio_png_warning(png_structp png, png_const_charp text) {
    (void)png;
    (void)text;  // benign (bad ancillary chunks, gamma); the image still decodes
}

struct cio_png_decoder {
    png_structp png;
    png_infop info;
    const uint8_t *data;
    size_t size;
    size_t position;
    cio_png_error_sink sink;
};

static void cio_png_read_bytes(png_structp png, png_bytep out, png_size_t count) {
    cio_png_decoder *decoder = (cio_png_decoder *)png_get_io_ptr(png);
    if (decoder->size - decoder->position < count) {
        png_error(png, "file is truncated");
    }
    memcpy(out, decoder->data + decoder->position, count);
    decoder->position += count;
}

int cio_png_open(const uint8_t *data, size_t size, cio_png_decoder **result,
                 cio_png_info *out, char message[CIO_MESSAGE_SIZE]) {
    *result = NULL;
    memset(out, 0, sizeof *out);
    if (size < 8 || png_sig_cmp(data, 0, 8) != 0) {
        snprintf(message, CIO_MESSAGE_SIZE, "not a PNG file");
        return 1;
    }
    cio_png_decoder *decoder = calloc(1, sizeof *decoder);
    if (!decoder) {
        snprintf(message, CIO_MESSAGE_SIZE, "out of memory");
        return 1;
    }
    decoder->data = data;
    decoder->size = size;
    decoder->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &decoder->sink,
                                          cio_png_error, cio_png_warning);
    if (decoder->png) decoder->info = png_create_info_struct(decoder->png);
    if (!decoder->png || !decoder->info) {
        snprintf(message, CIO_MESSAGE_SIZE, "cannot create a libpng decoder");
        cio_png_close(decoder);
        return 1;
    }
    if (setjmp(png_jmpbuf(decoder->png))) {
        snprintf(message, CIO_MESSAGE_SIZE, "%s", decoder->sink.message);
        cio_png_close(decoder);
        return 1;
    }
    png_set_read_fn(decoder->png, decoder, cio_png_read_bytes);
    png_read_info(decoder->png, decoder->info);

    png_structp png = decoder->png;
    png_infop info = decoder->info;
    out->width = png_get_image_width(png, info);
    out->height = png_get_image_height(png, info);
    out->bit_depth = png_get_bit_depth(png, info);
    out->color_type = png_get_color_type(png, info);
    out->interlaced = png_get_interlace_type(png, info) == PNG_INTERLACE_ADAM7;

    png_colorp palette = NULL;
    int palette_count = 0;
    if (png_get_PLTE(png, info, &palette, &palette_count) && palette) {
        if (palette_count > 256) palette_count = 256;
        out->palette_count = palette_count;
        for (int i = 0; i < palette_count; i++) {
            out->palette[3 * i + 0] = palette[i].red;
            out->palette[3 * i + 1] = palette[i].green;
            out->palette[3 * i + 2] = palette[i].blue;
        }
    }
    png_bytep trns_alpha = NULL;
    int trns_count = 0;
    png_color_16p trns_color = NULL;
    if (png_get_valid(png, info, PNG_INFO_tRNS) &&
        png_get_tRNS(png, info, &trns_alpha, &trns_count, &trns_color)) {
        if (out->color_type == PNG_COLOR_TYPE_PALETTE && trns_alpha) {
            if (trns_count > 256) trns_count = 256;
            out->trns_count = trns_count;
            memcpy(out->trns_alpha, trns_alpha, (size_t)trns_count);
        } else if (trns_color) {
            out->trns_count = 1;
            out->trns_gray = trns_color->gray;
            out->trns_rgb[0] = trns_color->red;
            out->trns_rgb[1] = trns_color->green;
            out->trns_rgb[2] = trns_color->blue;
        }
    }

    // Samples below 8 bits become one byte each, unscaled; 16-bit stays big-endian.
    if (out->bit_depth < 8) png_set_packing(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    out->channels = png_get_channels(png, info);
    out->row_bytes = png_get_rowbytes(png, info);
    *result = decoder;
    return 0;
}

int cio_png_read(cio_png_decoder *decoder, uint8_t *pixels, char message[CIO_MESSAGE_SIZE]) {
    png_structp png = decoder->png;
    png_infop info = decoder->info;
    uint32_t height = png_get_image_height(png, info);
    size_t row_bytes = png_get_rowbytes(png, info);
    png_bytepp rows = malloc(sizeof(png_bytep) * (height ? height : 1));
    if (!rows) {
        snprintf(message, CIO_MESSAGE_SIZE, "out of memory");
        return 1;
    }
    for (uint32_t y = 0; y < height; y++) rows[y] = pixels + (size_t)y * row_bytes;
    if (setjmp(png_jmpbuf(png))) {
        snprintf(message, CIO_MESSAGE_SIZE, "%s", decoder->sink.message);
        free(rows);
        return 1;
    }
    png_read_image(png, rows);
    free(rows);
    return 0;
}

void cio_png_close(cio_png_decoder *decoder) {
    if (!decoder) return;
    if (decoder->png) {
        png_destroy_read_struct(&decoder->png, decoder->info ? &decoder->info : NULL, NULL);
    }
    free(decoder);
}

// ---- encoding ----

typedef struct cio_png_writer {
    uint8_t *bytes;
    size_t size;
    size_t capacity;
    int failed;
} cio_png_writer;

static void cio_png_write_bytes(png_structp png, png_bytep data, png_size_t count) {
    cio_png_writer *writer = (cio_png_writer *)png_get_io_ptr(png);
    if (writer->size + count > writer->capacity) {
        size_t capacity = writer->capacity ? writer->capacity : 4096;
        while (capacity < writer->size + count) capacity *= 2;
        uint8_t *grown = realloc(writer->bytes, capacity);
        if (!grown) png_error(png, "out of memory");
        writer->bytes = grown;
        writer->capacity = capacity;
    }
    memcpy(writer->bytes + writer->size, data, count);
    writer->size += count;
}

static void cio_png_flush(png_structp png) { (void)png; }

int cio_png_encode(const uint8_t *pixels, uint32_t width, uint32_t height, int channels,
                   uint8_t **out, size_t *out_size, char message[CIO_MESSAGE_SIZE]) {
    static const int color_types[5] = {0, PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA,
                                       PNG_COLOR_TYPE_RGB, PNG_COLOR_TYPE_RGB_ALPHA};
    *out = NULL;
    *out_size = 0;
    if (channels < 1 || channels > 4 || width == 0 || height == 0) {
        snprintf(message, CIO_MESSAGE_SIZE, "cannot encode a %ux%u image with %d channels",
                 width, height, channels);
        return 1;
    }
    cio_png_error_sink sink = {{0}};
    // On the heap so its contents stay well-defined across the longjmp.
    cio_png_writer *writer = calloc(1, sizeof *writer);
    if (!writer) {
        snprintf(message, CIO_MESSAGE_SIZE, "out of memory");
        return 1;
    }
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &sink,
                                              cio_png_error, cio_png_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        snprintf(message, CIO_MESSAGE_SIZE, "cannot create a libpng encoder");
        png_destroy_write_struct(&png, info ? &info : NULL);
        free(writer);
        return 1;
    }
    png_bytepp rows = malloc(sizeof(png_bytep) * height);
    if (!rows) {
        snprintf(message, CIO_MESSAGE_SIZE, "out of memory");
        png_destroy_write_struct(&png, &info);
        free(writer);
        return 1;
    }
    if (setjmp(png_jmpbuf(png))) {
        snprintf(message, CIO_MESSAGE_SIZE, "%s", sink.message);
        free(rows);
        free(writer->bytes);
        free(writer);
        png_destroy_write_struct(&png, &info);
        return 1;
    }
    png_set_write_fn(png, writer, cio_png_write_bytes, cio_png_flush);
    png_set_IHDR(png, info, width, height, 8, color_types[channels], PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_set_compression_level(png, 6);
    size_t stride = (size_t)width * (size_t)channels;
    for (uint32_t y = 0; y < height; y++) rows[y] = (png_bytep)(pixels + (size_t)y * stride);
    png_write_info(png, info);
    png_write_image(png, rows);
    png_write_end(png, info);
    free(rows);
    png_destroy_write_struct(&png, &info);
    *out = writer->bytes;
    *out_size = writer->size;
    free(writer);
    return 0;
}

void cio_free(void *pointer) { free(pointer); }
