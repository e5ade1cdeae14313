#include "cpu/decode_png.h"

#include <png.h>

#include <csetjmp>
#include <cstdio>
#include <cstring>

#include "cpu/decode_image.h"

namespace fastpix {
namespace {

struct ReadState {
  const uint8_t* data;
  size_t size;
  size_t offset;
  jmp_buf jump;
  char message[256];
};

[[noreturn]] void on_error(png_structp png, png_const_charp message) {
  auto* state = static_cast<ReadState*>(png_get_error_ptr(png));
  std::snprintf(state->message, sizeof(state->message), "%s", message);
  longjmp(state->jump, 1);
}

// Warnings (bad ancillary chunks, odd profiles) do not affect the pixels.
void on_warning(png_structp, png_const_charp) {}

void on_read(png_structp png, png_bytep out, png_size_t length) {
  auto* state = static_cast<ReadState*>(png_get_io_ptr(png));
  if (length > state->size - state->offset) {
    png_error(png, "truncated PNG data (the file ends before the image data is complete)");
  }
  std::memcpy(out, state->data + state->offset, length);
  state->offset += length;
}

// Owns the libpng structs. A failed png_create_* (out of memory) leaves them null.
struct Reader {
  ReadState state;
  png_structp png = nullptr;
  png_infop info = nullptr;

  Reader(const uint8_t* data, size_t size) {
    state.data = data;
    state.size = size;
    state.offset = 0;
    state.message[0] = '\0';
    png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &state, on_error, on_warning);
    if (png) info = png_create_info_struct(png);
    if (!info) {
      if (png) png_destroy_read_struct(&png, nullptr, nullptr);
      throw std::bad_alloc();
    }
    png_set_read_fn(png, &state, on_read);
    // Our own pixel limit gives the error; libpng's default 1,000,000-pixel side limit would
    // refuse legitimate wide images first.
    png_set_user_limits(png, 0x7fffffff, 0x7fffffff);
  }
  ~Reader() { png_destroy_read_struct(&png, info ? &info : nullptr, nullptr); }
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;
};

// Asks libpng for 8-bit samples in the channels `mode` wants.
void set_transforms(png_structp png, int bit_depth, int color_type, ColorMode mode) {
  if (bit_depth == 16) png_set_strip_16(png);
  if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  if (mode == ColorMode::kUnchanged) {
    if (color_type == PNG_COLOR_TYPE_PALETTE && bit_depth < 8) png_set_packing(png);
    return;
  }
  if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  // Also drops the alpha that palette expansion adds for a tRNS chunk.
  png_set_strip_alpha(png);
  const bool grey = !(color_type & PNG_COLOR_MASK_COLOR);
  if (grey && mode == ColorMode::kRGB) png_set_gray_to_rgb(png);
}

// The part that runs under setjmp: only plain locals, so a longjmp out of libpng skips no
// destructor. Returns false with state.message set on any libpng error.
bool read_png(Reader& r, const DecodeOptions& options, Image& out,
              std::vector<png_bytep>& rows, std::string& refusal) {
  if (setjmp(r.state.jump)) return false;
  png_read_info(r.png, r.info);
  png_uint_32 width = 0, height = 0;
  int bit_depth = 0, color_type = 0;
  png_get_IHDR(r.png, r.info, &width, &height, &bit_depth, &color_type, nullptr, nullptr,
               nullptr);
  refusal = pixel_limit_error(width, height, options.max_pixels);
  if (!refusal.empty()) return true;

  set_transforms(r.png, bit_depth, color_type, options.mode);
  png_set_interlace_handling(r.png);
  png_read_update_info(r.png, r.info);

  out.width = int(width);
  out.height = int(height);
  out.channels = png_get_channels(r.png, r.info);
  const size_t stride = size_t(out.width) * out.channels;
  if (png_get_rowbytes(r.png, r.info) != stride) {
    png_error(r.png, "unexpected row size after conversion to 8 bits");
  }
  out.pixels.resize(stride * out.height);
  rows.resize(out.height);
  for (int y = 0; y < out.height; ++y) rows[y] = out.pixels.data() + y * stride;
  png_read_image(r.png, rows.data());
  // No png_read_end: trailing chunks after the image data do not change the pixels.
  return true;
}

}  // namespace

void decode_png(const uint8_t* data, size_t size, const DecodeOptions& options, Image& out) {
  if (size < 8 || png_sig_cmp(data, 0, 8) != 0) throw DecodeError("not a PNG file");
  Reader reader(data, size);
  std::vector<png_bytep> rows;
  std::string refusal;
  if (!read_png(reader, options, out, rows, refusal)) {
    throw DecodeError(std::string("PNG decoding failed: ") + reader.state.message);
  }
  if (!refusal.empty()) throw DecodeError(refusal);
  if (options.mode == ColorMode::kGrey && out.channels == 3) reduce_to_luma(out);
}

ImageInfo probe_png(const uint8_t* data, size_t size) {
  if (size < 8 || png_sig_cmp(data, 0, 8) != 0) throw DecodeError("not a PNG file");
  Reader r(data, size);
  ImageInfo info;
  info.format = "PNG";
  if (setjmp(r.state.jump)) {
    throw DecodeError(std::string("PNG decoding failed: ") + r.state.message);
  }
  png_read_info(r.png, r.info);
  info.width = int(png_get_image_width(r.png, r.info));
  info.height = int(png_get_image_height(r.png, r.info));
  info.channels = png_get_channels(r.png, r.info);
  return info;
}

}  // namespace fastpix
