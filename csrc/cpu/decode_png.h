// PNG decoding with libpng: every libpng error (and a file that ends before its image data)
// becomes a DecodeError; nothing exits the process or leaks.
#pragma once

#include "cpu/image.h"

namespace fastpix {

// Decodes into `out`, reusing its buffer. 16-bit samples keep their high byte (as Pillow does
// for RGB and libpng's strip_16); transparency (tRNS) is ignored and alpha channels dropped
// except in ColorMode::kUnchanged, which also keeps palette indices rather than colours.
void decode_png(const uint8_t* data, size_t size, const DecodeOptions& options, Image& out);

ImageInfo probe_png(const uint8_t* data, size_t size);

}  // namespace fastpix
