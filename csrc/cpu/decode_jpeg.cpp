#include "cpu/decode_jpeg.h"

#include <algorithm>
#include <csetjmp>
#include <cstdio>
#include <cstring>

#include <jpeglib.h>
// jpeglib.h before jerror.h (it defines the types jerror.h uses).
#include <jerror.h>

#include "cpu/decode_image.h"

namespace fastpix {
namespace {

// Ordinary progressive files have about ten scans; thousands only come from hostile files that
// would otherwise keep the decoder busy for minutes.
constexpr int kMaxScans = 1000;

struct ErrorManager {
  jpeg_error_mgr pub;  // first member: libjpeg casts cinfo->err back to this
  jmp_buf jump;
  char message[JMSG_LENGTH_MAX + 64];
};

[[noreturn]] void jump_with_message(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<ErrorManager*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  longjmp(err->jump, 1);
}

void on_error_exit(j_common_ptr cinfo) { jump_with_message(cinfo); }

// libjpeg reports damaged entropy data as warnings and keeps going with grey blocks; a training
// loader must not silently learn from those, so they are errors here. Other warnings (unknown
// JFIF revision, junk bytes between markers, a bad ICC chunk) do not affect the pixels.
bool is_corruption(int msg_code) {
  switch (msg_code) {
    case JWRN_ARITH_BAD_CODE:
    case JWRN_BOGUS_PROGRESSION:
    case JWRN_HIT_MARKER:
    case JWRN_HUFF_BAD_CODE:
    case JWRN_JPEG_EOF:
    case JWRN_MUST_RESYNC:
    case JWRN_NOT_SEQUENTIAL:
      return true;
    default:
      return false;
  }
}

void on_emit_message(j_common_ptr cinfo, int msg_level) {
  if (msg_level < 0 && is_corruption(cinfo->err->msg_code)) {
    jump_with_message(cinfo);
  }
}

void on_progress(j_common_ptr cinfo) {
  auto* dinfo = reinterpret_cast<j_decompress_ptr>(cinfo);
  if (dinfo->input_scan_number > kMaxScans) {
    auto* err = reinterpret_cast<ErrorManager*>(cinfo->err);
    std::snprintf(err->message, sizeof(err->message), "more than %d progressive scans",
                  kMaxScans);
    longjmp(err->jump, 1);
  }
}

// Owns a decompressor; the constructor cannot fail (the error handler is installed first and
// jpeg_create_decompress only errors on a library/struct version mismatch).
struct Decompressor {
  jpeg_decompress_struct cinfo;
  ErrorManager err;
  jpeg_progress_mgr progress;

  Decompressor() {
    std::memset(&cinfo, 0, sizeof(cinfo));
    cinfo.err = jpeg_std_error(&err.pub);
    err.pub.error_exit = on_error_exit;
    err.pub.emit_message = on_emit_message;
    err.message[0] = '\0';
    jpeg_create_decompress(&cinfo);
    progress.progress_monitor = on_progress;
    cinfo.progress = &progress;
  }
  ~Decompressor() { jpeg_destroy_decompress(&cinfo); }
  Decompressor(const Decompressor&) = delete;
  Decompressor& operator=(const Decompressor&) = delete;
};

// Pillow's draft rule: the largest of 1/8, 1/4, 1/2 that keeps the image at least the draft
// size; 1 if none does (or when draft_even_width cannot be kept).
int draft_scale(const jpeg_decompress_struct& cinfo, const DecodeOptions& options) {
  if (options.draft_width <= 0 || options.draft_height <= 0) return 1;
  const int ratio = std::min(int(cinfo.image_width) / options.draft_width,
                             int(cinfo.image_height) / options.draft_height);
  for (int scale : {8, 4, 2}) {
    if (ratio < scale) continue;
    if (options.draft_even_width && cinfo.image_width % (2 * scale) != 0) continue;
    return scale;
  }
  return 1;
}

// Pillow's cmyk2rgb: R = (255 - K) - (C * (255 - K)) / 255 with its rounding.
void cmyk_to_rgb(Image& image) {
  const size_t count = size_t(image.width) * image.height;
  const uint8_t* in = image.pixels.data();
  uint8_t* out = image.pixels.data();
  for (size_t i = 0; i < count; ++i, in += 4, out += 3) {
    const int nk = 255 - in[3];
    int rgb[3];
    for (int c = 0; c < 3; ++c) {
      const int t = in[c] * nk + 128;
      const int v = nk - (((t >> 8) + t) >> 8);
      rgb[c] = v < 0 ? 0 : (v > 255 ? 255 : v);
    }
    out[0] = uint8_t(rgb[0]);
    out[1] = uint8_t(rgb[1]);
    out[2] = uint8_t(rgb[2]);
  }
  image.channels = 3;
  image.pixels.resize(count * 3);
}

// The part that runs under setjmp: only plain locals, so a longjmp out of libjpeg skips no
// destructor. Returns false with err.message set on any libjpeg error.
bool read_jpeg(Decompressor& d, const uint8_t* data, size_t size, const DecodeOptions& options,
               Image& out, bool& is_cmyk, std::string& refusal) {
  jpeg_decompress_struct& cinfo = d.cinfo;
  if (setjmp(d.err.jump)) return false;
  jpeg_mem_src(&cinfo, data, static_cast<unsigned long>(size));
  jpeg_read_header(&cinfo, TRUE);

  refusal = pixel_limit_error(cinfo.image_width, cinfo.image_height, options.max_pixels);
  if (!refusal.empty()) return true;

  is_cmyk = false;
  switch (cinfo.jpeg_color_space) {
    case JCS_GRAYSCALE:
      cinfo.out_color_space = options.mode == ColorMode::kRGB ? JCS_RGB : JCS_GRAYSCALE;
      break;
    case JCS_YCbCr:
    case JCS_RGB:
      cinfo.out_color_space = JCS_RGB;
      break;
    case JCS_CMYK:
    case JCS_YCCK:
      cinfo.out_color_space = JCS_CMYK;
      is_cmyk = true;
      break;
    default:
      refusal = "unsupported JPEG colour space with " + std::to_string(cinfo.num_components) +
                " components";
      return true;
  }

  const int scale = draft_scale(cinfo, options);
  if (scale > 1) {
    // As Pillow's draft mode: DCT-domain scaling with its fast settings.
    cinfo.scale_num = 1;
    cinfo.scale_denom = static_cast<unsigned>(scale);
    cinfo.do_fancy_upsampling = FALSE;
    cinfo.dct_method = JDCT_IFAST;
  }

  jpeg_start_decompress(&cinfo);
  out.width = int(cinfo.output_width);
  out.height = int(cinfo.output_height);
  out.channels = cinfo.output_components;
  const size_t stride = size_t(out.width) * out.channels;
  out.pixels.resize(stride * out.height);

  JSAMPROW rows[16];
  while (cinfo.output_scanline < cinfo.output_height) {
    const unsigned first = cinfo.output_scanline;
    const unsigned count = std::min(16u, cinfo.output_height - first);
    for (unsigned i = 0; i < count; ++i) rows[i] = out.pixels.data() + (first + i) * stride;
    jpeg_read_scanlines(&cinfo, rows, count);
  }
  // jpeg_finish_decompress would only look for the end marker: libjpeg reads ahead, so a file
  // cut anywhere (even just its end marker, which Pillow also refuses) was reported above.
  return true;
}

}  // namespace

void decode_jpeg(const uint8_t* data, size_t size, const DecodeOptions& options, Image& out) {
  Decompressor d;
  bool is_cmyk = false;
  std::string refusal;
  if (!read_jpeg(d, data, size, options, out, is_cmyk, refusal)) {
    throw DecodeError(std::string("JPEG decoding failed: ") + d.err.message);
  }
  if (!refusal.empty()) throw DecodeError(refusal);

  if (is_cmyk) {
    // Adobe polarity (stored inverted), as Pillow always assumes.
    for (uint8_t& v : out.pixels) v = uint8_t(255 - v);
    if (options.mode == ColorMode::kUnchanged) return;
    cmyk_to_rgb(out);
  }
  if (options.mode == ColorMode::kGrey && out.channels == 3) reduce_to_luma(out);
}

ImageInfo probe_jpeg(const uint8_t* data, size_t size) {
  Decompressor d;
  ImageInfo info;
  info.format = "JPEG";
  if (setjmp(d.err.jump)) {
    throw DecodeError(std::string("JPEG decoding failed: ") + d.err.message);
  }
  jpeg_mem_src(&d.cinfo, data, static_cast<unsigned long>(size));
  jpeg_read_header(&d.cinfo, TRUE);
  info.width = int(d.cinfo.image_width);
  info.height = int(d.cinfo.image_height);
  info.channels = d.cinfo.num_components;
  return info;
}

}  // namespace fastpix
