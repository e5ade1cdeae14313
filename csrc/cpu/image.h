// The types every codec and the pair pipeline share: a decoded image, how to decode, and the
// error a bad file raises.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace fastpix {

// A file that cannot be decoded (corrupt, truncated, unsupported, over the pixel limit). The
// message says why; the caller adds which file.
class DecodeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Channels a decode returns.
enum class ColorMode {
  kRGB,        // 3 channels: grey replicated, palette expanded, alpha dropped, CMYK converted
  kGrey,       // 1 channel: colour images reduced to ITU-R 601 luma as Pillow's convert("L")
  kUnchanged,  // as stored: grey 1, grey+alpha 2, RGB 3, RGBA/CMYK 4, palette PNG = indices
};

// Pillow's default limit for decompression bombs, times two (where Pillow raises).
constexpr int64_t kDefaultMaxPixels = 2 * 89478485LL;

struct DecodeOptions {
  ColorMode mode = ColorMode::kRGB;
  int64_t max_pixels = kDefaultMaxPixels;  // width × height above this is refused
  // JPEG draft decoding: when > 0, decode at 1/2, 1/4 or 1/8 scale in the DCT domain as long
  // as the result stays at least draft_width × draft_height (Pillow's Image.draft rule).
  int draft_width = 0;
  int draft_height = 0;
  // Only scales that keep the decoded width even (side-by-side pairs are split in half).
  bool draft_even_width = false;
};

// A decoded 8-bit image, rows packed: pixels[(y * width + x) * channels + c].
struct Image {
  int width = 0;
  int height = 0;
  int channels = 0;
  std::vector<uint8_t> pixels;

  const uint8_t* row(int y) const { return pixels.data() + size_t(y) * width * channels; }
};

// Size and layout read from a header, without decoding pixels.
struct ImageInfo {
  int width = 0;
  int height = 0;
  int channels = 0;  // as stored (see ColorMode::kUnchanged)
  const char* format = "";
};

// Pillow's L = R * 299/1000 + G * 587/1000 + B * 114/1000, in its 16-bit fixed point.
inline uint8_t luma(const uint8_t* rgb) {
  return uint8_t((rgb[0] * 19595 + rgb[1] * 38470 + rgb[2] * 7471 + 0x8000) >> 16);
}

// "width×height = N pixels is over the limit" as an error message, or empty when allowed.
std::string pixel_limit_error(int64_t width, int64_t height, int64_t max_pixels);

}  // namespace fastpix
