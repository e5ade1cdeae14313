// One entry point for any supported file: read it, recognise JPEG or PNG by content, decode.
#pragma once

#include <string>
#include <vector>

#include "cpu/image.h"

namespace fastpix {

enum class ImageFormat { kJpeg, kPng, kUnknown };

ImageFormat sniff_format(const uint8_t* data, size_t size);

// Reads a whole file into `out` (reusing its buffer); DecodeError naming the OS reason if it
// cannot be read.
void read_file(const std::string& path, std::vector<uint8_t>& out);

// Decodes JPEG or PNG data into `out`; DecodeError for anything else (empty, other formats,
// corrupt, over the pixel limit).
void decode_image(const uint8_t* data, size_t size, const DecodeOptions& options, Image& out);

ImageInfo probe_image(const uint8_t* data, size_t size);

// In-place colour → luma (Pillow's convert("L")) for a 3-channel image.
void reduce_to_luma(Image& image);

}  // namespace fastpix
