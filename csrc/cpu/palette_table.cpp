#include "cpu/palette_table.h"

#include <cstdlib>
#include <new>
#include <utility>

namespace fastpix {

PaletteTable::PaletteTable(std::vector<Rgb> palette, const std::array<uint8_t, 256>& lut,
                           int ignore_index, float max_distance_sq)
    : palette_(std::move(palette)),
      lut_(lut),
      ignore_index_(ignore_index),
      max_distance_sq_(max_distance_sq),
      cache_(static_cast<uint16_t*>(std::calloc(size_t(1) << 24, sizeof(uint16_t)))) {
  if (!cache_) throw std::bad_alloc();
}

PaletteTable::~PaletteTable() { std::free(cache_); }

uint8_t PaletteTable::classify_uncached(uint8_t r, uint8_t g, uint8_t b) const {
  int best = -1;
  int index = 0;
  for (size_t k = 0; k < palette_.size(); ++k) {
    const int dr = int(r) - palette_[k][0];
    const int dg = int(g) - palette_[k][1];
    const int db = int(b) - palette_[k][2];
    const int d = dr * dr + dg * dg + db * db;
    if (best < 0 || d < best) {
      best = d;
      index = int(k);
    }
  }
  if (max_distance_sq_ >= 0.0f && float(best) > max_distance_sq_) index = ignore_index_;
  return lut_[index & 0xff];
}

}  // namespace fastpix
