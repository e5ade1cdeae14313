// JPEG decoding with libjpeg(-turbo): every libjpeg error and data-corruption warning becomes a
// DecodeError; nothing exits the process or leaks.
#pragma once

#include "cpu/image.h"

namespace fastpix {

// Decodes into `out`, reusing its buffer. Modes as ColorMode says; CMYK/YCCK files are read with
// Adobe (inverted) polarity and converted to RGB with Pillow's formula.
void decode_jpeg(const uint8_t* data, size_t size, const DecodeOptions& options, Image& out);

ImageInfo probe_jpeg(const uint8_t* data, size_t size);

}  // namespace fastpix
