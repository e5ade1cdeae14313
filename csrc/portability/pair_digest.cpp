// Portability check: runs the resampling weights, the palette classifier and the pair pipeline
// (resize, crop, flip, normalize, classify) on synthetic images and prints one FNV-1a digest
// per case. Every build (x86-64 gcc with and without AVX2 clones, clang, aarch64 under qemu)
// must print the same lines: the outputs are integers, or table lookups of them, so any
// difference is a bug. Built and compared by tools/check_portability.sh; needs no codec input
// (sources are raw pixels), but links the codecs like every user of fastpix_cpu.
//
// Also checks, on the build it runs on, that the cached PaletteTable::classify agrees with the
// brute-force classify_uncached for a grid of colours; exits 1 and says which colour if not.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cpu/pair_pipeline.h"
#include "cpu/palette_table.h"
#include "cpu/resample.h"

using namespace fastpix;

namespace {

uint64_t fnv1a(const void* data, size_t size, uint64_t hash = 1469598103934665603ull) {
  const auto* bytes = static_cast<const uint8_t*>(data);
  for (size_t i = 0; i < size; ++i) hash = (hash ^ bytes[i]) * 1099511628211ull;
  return hash;
}

void print_digest(const std::string& name, uint64_t hash) {
  std::printf("%-40s %016llx\n", name.c_str(), static_cast<unsigned long long>(hash));
}

// Deterministic bytes independent of the platform's rand().
struct XorShift {
  uint32_t state;
  uint32_t next() {
    state ^= state << 13;
    state ^= state >> 17;
    state ^= state << 5;
    return state;
  }
};

const std::vector<Rgb> kMaskColors = {{128, 64, 128}, {244, 35, 232}, {70, 70, 70},
                                      {107, 142, 35}, {70, 130, 180}, {220, 20, 60},
                                      {0, 0, 142},    {0, 0, 0}};

PaletteRule mask_rule() {
  PaletteRule rule;
  rule.colors = kMaskColors;
  for (int i = 0; i < 256; ++i) rule.lut[i] = uint8_t((i * 7 + 3) % 256);
  rule.ignore_index = 255;
  rule.max_distance_sq = 300.0f;
  return rule;
}

// A side-by-side pair, H × 2W × 3: a textured photo (gradients plus noise, so the filters see
// every value) | a mask of palette-colour blocks with JPEG-like noise of up to ±12 per channel.
std::vector<uint8_t> synthetic_pair(int width, int height, uint32_t seed) {
  std::vector<uint8_t> pixels(size_t(height) * 2 * width * 3);
  XorShift rng{seed};
  for (int y = 0; y < height; ++y) {
    uint8_t* row = pixels.data() + size_t(y) * 2 * width * 3;
    for (int x = 0; x < width; ++x) {
      const uint32_t noise = rng.next();
      row[3 * x + 0] = uint8_t(x * 255 / width + (noise & 31));
      row[3 * x + 1] = uint8_t(y * 255 / height + ((noise >> 8) & 63));
      row[3 * x + 2] = uint8_t((x + y) * 3 + (noise >> 16));
      const Rgb& base = kMaskColors[((x / 7) + (y / 5) * 3) % kMaskColors.size()];
      uint8_t* mask = row + 3 * (width + x);
      for (int c = 0; c < 3; ++c) {
        const int v = base[c] + int((noise >> (c * 5)) % 25) - 12;
        mask[c] = uint8_t(v < 0 ? 0 : (v > 255 ? 255 : v));
      }
    }
  }
  return pixels;
}

// Channel value → an arbitrary but exactly representable float (or float16 bit pattern).
std::vector<uint8_t> photo_lut(int elem_size) {
  std::vector<uint8_t> bytes(size_t(3) * 256 * elem_size);
  for (int i = 0; i < 3 * 256; ++i) {
    if (elem_size == 4) {
      const float value = float(i % 256 - 128) / 128.0f + float(i / 256);
      std::memcpy(bytes.data() + size_t(i) * 4, &value, 4);
    } else {
      const uint16_t half = uint16_t(i * 37 + 11);
      std::memcpy(bytes.data() + size_t(i) * 2, &half, 2);
    }
  }
  return bytes;
}

struct PairCase {
  const char* name;
  int src_width, src_height;  // one half
  int load_width, load_height;
  int out_width, out_height;
  Filter filter;
  TargetKind target;
  int photo_elem_size;
  int class_elem_size;
};

// Downscales with short (<= 6 taps) and long filters, both pass orders, upscales, the exact
// size, each target kind and element size.
const PairCase kPairCases[] = {
    {"bicubic_down_long_filters", 256, 128, 96, 48, 90, 40, Filter::kBicubic,
     TargetKind::kClassesFromColors, 4, 1},
    {"bicubic_vertical_first", 100, 200, 90, 60, 84, 60, Filter::kBicubic,
     TargetKind::kClassesFromColors, 4, 8},
    {"bilinear_up", 60, 40, 128, 96, 120, 90, Filter::kBilinear, TargetKind::kClassesFromColors,
     2, 1},
    {"bilinear_down_short_filters", 130, 70, 100, 50, 96, 48, Filter::kBilinear, TargetKind::kImage,
     2, 1},
    {"bicubic_image_target", 150, 90, 64, 64, 64, 64, Filter::kBicubic, TargetKind::kImage, 4, 1},
    {"same_size", 72, 40, 72, 40, 64, 32, Filter::kBicubic, TargetKind::kClassesFromColors, 4, 8},
    // Scales with large denominators, so sums land near rounding boundaries (simple ratios
    // such as 13/10 keep every sum far from them).
    {"bilinear_down_odd_scale", 191, 113, 83, 59, 80, 56, Filter::kBilinear, TargetKind::kImage,
     4, 1},
    {"bicubic_down_odd_scale", 181, 97, 150, 83, 149, 83, Filter::kBicubic, TargetKind::kImage,
     2, 1},
};

uint64_t run_pair_case(const PairCase& c, const std::vector<uint8_t>& pixels) {
  PairConfig config;
  config.side_by_side = true;
  config.target = c.target;
  config.filter = c.filter;
  config.load_width = c.load_width;
  config.load_height = c.load_height;
  config.out_width = c.out_width;
  config.out_height = c.out_height;
  config.photo_elem_size = c.photo_elem_size;
  config.photo_lut = photo_lut(c.photo_elem_size);
  config.class_elem_size = c.class_elem_size;
  std::unique_ptr<PaletteTable> palette;
  if (c.target == TargetKind::kClassesFromColors) {
    palette = std::make_unique<PaletteTable>(mask_rule());
  }
  PairDecoder decoder(config, std::move(palette), 2);

  // Four crop windows: corners and the middle, flipped and not.
  std::vector<PairJob> jobs(4);
  const int spare_x = c.load_width - c.out_width;
  const int spare_y = c.load_height - c.out_height;
  for (int i = 0; i < 4; ++i) {
    jobs[i].first.pixels = pixels.data();
    jobs[i].first.width = 2 * c.src_width;
    jobs[i].first.height = c.src_height;
    jobs[i].first.channels = 3;
    jobs[i].left = (i == 1 || i == 3) ? spare_x : (i == 2 ? spare_x / 2 : 0);
    jobs[i].top = i >= 2 ? spare_y : 0;
    jobs[i].flip = i % 2 == 1;
  }
  const size_t plane = size_t(c.out_width) * c.out_height;
  const size_t photo_bytes = 3 * plane * c.photo_elem_size;
  const size_t target_bytes =
      c.target == TargetKind::kImage ? photo_bytes : plane * c.class_elem_size;
  std::vector<uint8_t> photo(jobs.size() * photo_bytes);
  std::vector<uint8_t> target(jobs.size() * target_bytes);
  const std::vector<PairError> errors = decoder.decode(jobs, photo.data(), target.data());
  if (!errors.empty()) {
    std::fprintf(stderr, "%s: pair %d failed: %s\n", c.name, errors[0].index,
                 errors[0].message.c_str());
    return 0;
  }
  return fnv1a(target.data(), target.size(), fnv1a(photo.data(), photo.size()));
}

// The weights in double arithmetic, rounded to fixed point: where fused multiply-adds would
// change a last bit (-ffp-contract=off keeps them out).
uint64_t resample_weights_digest() {
  uint64_t hash = fnv1a(nullptr, 0);
  const int sizes[][2] = {{2048, 256}, {1024, 286}, {512, 512}, {256, 1024}, {97, 13},
                          {13, 97},    {1000, 3},   {3, 1000},  {2048, 1365}};
  for (const auto& size : sizes) {
    for (Filter filter : {Filter::kBilinear, Filter::kBicubic}) {
      ResampleAxis axis;
      compute_resample_axis(size[0], size[1], filter, axis);
      hash = fnv1a(axis.weights.data(), axis.weights.size() * sizeof(int32_t), hash);
      hash = fnv1a(axis.first.data(), axis.first.size() * sizeof(int), hash);
      pad_to_uniform_taps(axis);
      hash = fnv1a(axis.weights.data(), axis.weights.size() * sizeof(int32_t), hash);
      hash = fnv1a(axis.first.data(), axis.first.size() * sizeof(int), hash);
    }
    std::vector<int> index;
    compute_nearest_axis(size[0], size[1], index);
    hash = fnv1a(index.data(), index.size() * sizeof(int), hash);
  }
  return hash;
}

// classify (cached cells) against classify_uncached (brute force) on every third colour.
bool palette_digest(uint64_t& hash) {
  const PaletteTable table(mask_rule());
  std::vector<uint8_t> classes;
  classes.reserve(86 * 86 * 86);
  for (int r = 0; r < 256; r += 3) {
    for (int g = 0; g < 256; g += 3) {
      for (int b = 0; b < 256; b += 3) {
        const uint8_t cached = table.classify(uint8_t(r), uint8_t(g), uint8_t(b));
        const uint8_t exact = table.classify_uncached(uint8_t(r), uint8_t(g), uint8_t(b));
        if (cached != exact) {
          std::fprintf(stderr, "palette: colour (%d, %d, %d) gives %d cached, %d uncached\n", r,
                       g, b, cached, exact);
          return false;
        }
        classes.push_back(cached);
      }
    }
  }
  hash = fnv1a(classes.data(), classes.size());
  return true;
}

}  // namespace

int main() {
  print_digest("resample_weights", resample_weights_digest());
  uint64_t palette_hash = 0;
  if (!palette_digest(palette_hash)) return 1;
  print_digest("palette_classes", palette_hash);
  bool ok = true;
  for (const PairCase& c : kPairCases) {
    const uint64_t hash = run_pair_case(c, synthetic_pair(c.src_width, c.src_height, 12345));
    ok = ok && hash != 0;
    print_digest(std::string("pair_") + c.name, hash);
  }
  return ok ? 0 : 1;
}
