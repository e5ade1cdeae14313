// RGB colour → class id by the nearest mask colour, the rule of
// fastpix.palette.palette_to_class_reference followed by LabelSet.mask_lut:
//   index = argmin_k |rgb - palette[k]|² (ties → lowest k);
//   index = ignore_index if max_distance is set and the minimum exceeds max_distance²;
//   class = lut[index].
// JPEG-compressed masks hold thousands of distinct colours, each seen many times, so results
// are cached, in two levels filled on first use:
// - 2^15 cells of 8×8×8 colours (64 KiB, stays in cache): a cell whose every colour provably
//   gets the same class (by the distance bounds of the box) holds that class;
// - the rest (cells straddling a boundary between mask colours) look up the exact colour in a
//   2^24-entry table (calloc'd: untouched pages cost nothing).
#pragma once

#include <array>
#include <cstdint>
#include <vector>

namespace fastpix {

using Rgb = std::array<uint8_t, 3>;

// The rule's parameters (LabelSet.mask_palette, mask_lut, ignore_index and max_distance).
struct PaletteRule {
  std::vector<Rgb> colors;         // K mask colours, 1 <= K <= 255
  std::array<uint8_t, 256> lut{};  // palette index (or ignore_index) → class id
  int ignore_index = 255;
  float max_distance_sq = -1.0f;  // < 0: no limit; else the float32 value torch compares with
};

class PaletteTable {
 public:
  explicit PaletteTable(PaletteRule rule);
  ~PaletteTable();
  PaletteTable(const PaletteTable&) = delete;
  PaletteTable& operator=(const PaletteTable&) = delete;

  // Safe to call from many threads at once.
  uint8_t classify(uint8_t r, uint8_t g, uint8_t b) const {
    const uint32_t cell = (uint32_t(r >> 3) << 10) | (uint32_t(g >> 3) << 5) | (b >> 3);
    // Entries go from 0 (unknown) to their final value exactly once, always to the same value,
    // so relaxed atomics are enough.
    uint16_t shared = __atomic_load_n(&cells_[cell], __ATOMIC_RELAXED);
    if (!shared) {
      shared = classify_cell(cell);
      __atomic_store_n(&cells_[cell], shared, __ATOMIC_RELAXED);
    }
    if (shared != kMixedCell) return uint8_t(shared - 1);
    const uint32_t key = (uint32_t(r) << 16) | (uint32_t(g) << 8) | b;
    const uint16_t cached = __atomic_load_n(&cache_[key], __ATOMIC_RELAXED);
    if (cached) return uint8_t(cached - 1);
    const uint8_t value = classify_uncached(r, g, b);
    __atomic_store_n(&cache_[key], uint16_t(value + 1), __ATOMIC_RELAXED);
    return value;
  }

  uint8_t classify_uncached(uint8_t r, uint8_t g, uint8_t b) const;

 private:
  // A cell's entry when its colours do not all get one class.
  static constexpr uint16_t kMixedCell = 0xffff;

  // class + 1 when every colour of the cell gets that class, else kMixedCell.
  uint16_t classify_cell(uint32_t cell) const;

  PaletteRule rule_;
  uint16_t* cells_;  // 2^15 entries: 0 unknown, class + 1, or kMixedCell
  uint16_t* cache_;  // 2^24 entries: 0 unknown, class + 1
};

}  // namespace fastpix
