#include "CImageIO.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jpeglib.h>
#include <jerror.h>

// libjpeg's error_exit must not return: it formats the message and longjmps back to
// the setjmp of the cio_* function that made the failing call.
typedef struct cio_jpeg_error_manager {
    struct jpeg_error_mgr base;
    jmp_buf jump;
    char message[CIO_MESSAGE_SIZE];
} cio_jpeg_error_manager;

struct cio_jpeg_decoder {
    struct jpeg_decompress_struct cinfo;
    cio_jpeg_error_manager errors;
    int started;
};

static void cio_jpeg_error_exit(j_common_ptr cinfo) {
    cio_jpeg_error_manager *errors = (cio_jpeg_error_manager *)cinfo->err;
    char text[JMSG_LENGTH_MAX];
    (*cinfo->err->format_message)(cinfo, text);
    snprintf(errors->message, CIO_MESSAGE_SIZE, "%s", text);
    longjmp(errors->jump, 1);
}

static void cio_jpeg_emit_message(j_common_ptr cinfo, int level) {
    // Running out of data makes libjpeg warn and pad with grey; a truncated file is
    // an error here (as in Pillow), other corrupt-data warnings are tolerated.
    if (level == -1 && cinfo->err->msg_code == JWRN_JPEG_EOF) {
        cio_jpeg_error_manager *errors = (cio_jpeg_error_manager *)cinfo->err;
        snprintf(errors->message, CIO_MESSAGE_SIZE, "file is truncated");
        longjmp(errors->jump, 1);
    }
    if (level == -1) cinfo->err->num_warnings++;
}

int cio_jpeg_open(const uint8_t *data, size_t size, cio_jpeg_decoder **result,
                  cio_jpeg_info *out, char message[CIO_MESSAGE_SIZE]) {
    *result = NULL;
    memset(out, 0, sizeof *out);
    cio_jpeg_decoder *decoder = calloc(1, sizeof *decoder);
    if (!decoder) {
        snprintf(message, CIO_MESSAGE_SIZE, "out of memory");
        return 1;
    }
    struct jpeg_decompress_struct *cinfo = &decoder->cinfo;
    cinfo->err = jpeg_std_error(&decoder->errors.base);
    decoder->errors.base.error_exit = cio_jpeg_error_exit;
    decoder->errors.base.emit_message = cio_jpeg_emit_message;
    if (setjmp(decoder->errors.jump)) {
        snprintf(message, CIO_MESSAGE_SIZE, "%s", decoder->errors.message);
        cio_jpeg_close(decoder);
        return 1;
    }
    jpeg_create_decompress(cinfo);
    decoder->started = 1;
    jpeg_mem_src(cinfo, data, (unsigned long)size);
    jpeg_read_header(cinfo, TRUE);

    out->width = cinfo->image_width;
    out->height = cinfo->image_height;
    out->components = cinfo->num_components;
    out->progressive = cinfo->progressive_mode ? 1 : 0;
    out->adobe_marker = cinfo->saw_Adobe_marker ? 1 : 0;
    out->adobe_transform = cinfo->Adobe_transform;
    switch (cinfo->num_components) {
        case 1:
            cinfo->out_color_space = JCS_GRAYSCALE;
            out->output_components = 1;
            break;
        case 3:
            cinfo->out_color_space = JCS_RGB;
            out->output_components = 3;
            break;
        case 4:
            cinfo->out_color_space = JCS_CMYK;  // libjpeg turns YCCK into CMYK
            out->output_components = 4;
            break;
        default:
            snprintf(message, CIO_MESSAGE_SIZE, "cannot handle %d-component JPEG images",
                     cinfo->num_components);
            cio_jpeg_close(decoder);
            return 1;
    }
    *result = decoder;
    return 0;
}

int cio_jpeg_read(cio_jpeg_decoder *decoder, uint8_t *pixels, char message[CIO_MESSAGE_SIZE]) {
    struct jpeg_decompress_struct *cinfo = &decoder->cinfo;
    if (setjmp(decoder->errors.jump)) {
        snprintf(message, CIO_MESSAGE_SIZE, "%s", decoder->errors.message);
        return 1;
    }
    jpeg_start_decompress(cinfo);
    size_t stride = (size_t)cinfo->output_width * (size_t)cinfo->output_components;
    while (cinfo->output_scanline < cinfo->output_height) {
        JSAMPROW row = pixels + (size_t)cinfo->output_scanline * stride;
        jpeg_read_scanlines(cinfo, &row, 1);
    }
    jpeg_finish_decompress(cinfo);
    return 0;
}

void cio_jpeg_close(cio_jpeg_decoder *decoder) {
    if (!decoder) return;
    if (decoder->started) jpeg_destroy_decompress(&decoder->cinfo);
    free(decoder);
}
