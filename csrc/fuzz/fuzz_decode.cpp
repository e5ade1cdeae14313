// Fuzz driver: every file named on the command line goes through every native entry point
// (decode in each mode, header probe, the pair pipeline as a side-by-side file, as a label-id
// map and with JPEG draft scaling). Built only with FASTPIX_ASAN=ON, run by
// benchmarks/fuzz_decode.py; any memory error or undefined behaviour aborts with a sanitizer
// report. Prints one summary line: files, clean decodes, DecodeErrors.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cpu/decode_image.h"
#include "cpu/pair_pipeline.h"

using namespace fastpix;

namespace {

constexpr int64_t kMaxPixels = 1 << 22;  // keeps hostile headers from asking for gigabytes

std::vector<uint8_t> float_lut() {
  std::vector<uint8_t> bytes(3 * 256 * sizeof(float));
  auto* values = reinterpret_cast<float*>(bytes.data());
  for (int i = 0; i < 3 * 256; ++i) values[i] = float(i % 256) / 127.5f - 1.0f;
  return bytes;
}

std::unique_ptr<PairDecoder> make_decoder(bool side_by_side, bool draft) {
  PairConfig cfg;
  cfg.side_by_side = side_by_side;
  cfg.target = side_by_side ? TargetKind::kClassesFromColors : TargetKind::kClassesFromIds;
  cfg.load_height = 13;
  cfg.load_width = 17;
  cfg.out_height = 11;
  cfg.out_width = 16;
  cfg.photo_lut = float_lut();
  cfg.class_elem_size = 8;
  for (int i = 0; i < 256; ++i) cfg.id_lut[i] = uint8_t(255 - i);
  cfg.max_pixels = kMaxPixels;
  cfg.jpeg_draft = draft;
  std::unique_ptr<PaletteTable> palette;
  if (side_by_side) {
    PaletteRule rule;
    rule.colors = {{0, 0, 0}, {128, 64, 128}, {70, 130, 180}, {220, 20, 60}};
    for (int i = 0; i < 256; ++i) rule.lut[i] = uint8_t(i);
    rule.max_distance_sq = 400.0f;
    palette = std::make_unique<PaletteTable>(std::move(rule));
  }
  return std::make_unique<PairDecoder>(cfg, std::move(palette), 2);
}

}  // namespace

int main(int argc, char** argv) {
  auto side_by_side = make_decoder(true, false);
  auto drafted = make_decoder(true, true);
  auto labels = make_decoder(false, false);
  std::vector<float> photo(3 * 11 * 16);
  std::vector<int64_t> classes(11 * 16);
  long decoded = 0, errors = 0;
  std::vector<uint8_t> file;
  Image image;
  for (int a = 1; a < argc; ++a) {
    const std::string path = argv[a];
    try {
      read_file(path, file);
    } catch (const DecodeError&) {
      ++errors;
      continue;
    }
    for (ColorMode mode : {ColorMode::kRGB, ColorMode::kGrey, ColorMode::kUnchanged}) {
      DecodeOptions options;
      options.mode = mode;
      options.max_pixels = kMaxPixels;
      try {
        decode_image(file.data(), file.size(), options, image);
        ++decoded;
      } catch (const DecodeError&) {
        ++errors;
      }
    }
    try {
      probe_image(file.data(), file.size());
    } catch (const DecodeError&) {
    }
    PairJob job;
    job.first.path = path;
    job.top = 1;
    job.left = 1;
    job.flip = a % 2 == 0;
    errors += long(side_by_side->decode({job}, photo.data(), classes.data()).size());
    errors += long(drafted->decode({job}, photo.data(), classes.data()).size());
    // The same file as the label-id map of a pair whose photo is the file itself.
    job.second.path = path;
    errors += long(labels->decode({job}, photo.data(), classes.data()).size());
  }
  std::printf("files=%d decoded=%ld errors=%ld\n", argc - 1, decoded, errors);
  return 0;
}
