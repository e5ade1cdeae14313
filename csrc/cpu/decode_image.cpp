#include "cpu/decode_image.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <system_error>

#include "cpu/decode_jpeg.h"
#include "cpu/decode_png.h"

namespace fastpix {
namespace {

bool starts_with(const uint8_t* data, size_t size, const char* magic, size_t length) {
  return size >= length && std::memcmp(data, magic, length) == 0;
}

// Why a file is not JPEG/PNG, naming common other formats so the message is actionable.
std::string unknown_format(const uint8_t* data, size_t size) {
  const bool webp = size >= 12 && starts_with(data, size, "RIFF", 4) &&
                    std::memcmp(data + 8, "WEBP", 4) == 0;
  const bool tiff = starts_with(data, size, "II*\0", 4) || starts_with(data, size, "MM\0*", 4);
  const char* name = nullptr;
  if (starts_with(data, size, "GIF8", 4)) name = "GIF";
  else if (starts_with(data, size, "BM", 2)) name = "BMP";
  else if (tiff) name = "TIFF";
  else if (webp) name = "WebP";
  if (name) return std::string(name) + " file: only JPEG and PNG are decoded natively";
  std::string hex;
  char byte[4];
  for (size_t i = 0; i < size && i < 8; ++i) {
    std::snprintf(byte, sizeof(byte), i ? " %02x" : "%02x", data[i]);
    hex += byte;
  }
  return "not a JPEG or PNG file (starts with bytes " + hex + ")";
}

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

}  // namespace

std::string pixel_limit_error(int64_t width, int64_t height, int64_t max_pixels) {
  if (width <= 0 || height <= 0) {
    return "invalid image size " + std::to_string(width) + "x" + std::to_string(height);
  }
  if (max_pixels > 0 && width * height > max_pixels) {
    return "image is " + std::to_string(width) + "x" + std::to_string(height) + " = " +
           std::to_string(width * height) + " pixels, over the limit of max_pixels=" +
           std::to_string(max_pixels) + " (a decompression bomb?)";
  }
  return "";
}

ImageFormat sniff_format(const uint8_t* data, size_t size) {
  if (starts_with(data, size, "\xff\xd8\xff", 3)) return ImageFormat::kJpeg;
  if (starts_with(data, size, "\x89PNG\r\n\x1a\n", 8)) return ImageFormat::kPng;
  return ImageFormat::kUnknown;
}

void read_file(const std::string& path, std::vector<uint8_t>& out) {
  std::unique_ptr<std::FILE, FileCloser> file(std::fopen(path.c_str(), "rb"));
  if (!file) {
    throw DecodeError("cannot open: " + std::generic_category().message(errno));
  }
  out.clear();
  // One read of the whole file when its size is known; chunks for pipes and the like.
  if (std::fseek(file.get(), 0, SEEK_END) == 0) {
    const long size = std::ftell(file.get());
    std::rewind(file.get());
    if (size > 0) {
      out.resize(size_t(size));
      out.resize(std::fread(out.data(), 1, out.size(), file.get()));
    }
  }
  uint8_t chunk[1 << 16];
  size_t got;
  while ((got = std::fread(chunk, 1, sizeof(chunk), file.get())) > 0) {
    out.insert(out.end(), chunk, chunk + got);
  }
  if (std::ferror(file.get())) {
    throw DecodeError("cannot read: " + std::generic_category().message(errno));
  }
}

void decode_image(const uint8_t* data, size_t size, const DecodeOptions& options, Image& out) {
  if (size == 0) throw DecodeError("empty file (0 bytes)");
  switch (sniff_format(data, size)) {
    case ImageFormat::kJpeg:
      decode_jpeg(data, size, options, out);
      return;
    case ImageFormat::kPng:
      decode_png(data, size, options, out);
      return;
    case ImageFormat::kUnknown:
      throw DecodeError(unknown_format(data, size));
  }
}

ImageInfo probe_image(const uint8_t* data, size_t size) {
  if (size == 0) throw DecodeError("empty file (0 bytes)");
  switch (sniff_format(data, size)) {
    case ImageFormat::kJpeg:
      return probe_jpeg(data, size);
    case ImageFormat::kPng:
      return probe_png(data, size);
    case ImageFormat::kUnknown:
      break;
  }
  throw DecodeError(unknown_format(data, size));
}

void reduce_to_luma(Image& image) {
  const size_t count = size_t(image.width) * image.height;
  uint8_t* px = image.pixels.data();
  for (size_t i = 0; i < count; ++i) px[i] = luma(px + 3 * i);
  image.channels = 1;
  image.pixels.resize(count);
}

}  // namespace fastpix
