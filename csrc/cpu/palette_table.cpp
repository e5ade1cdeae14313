#include "cpu/palette_table.h"

#include <cstdlib>
#include <new>
#include <utility>

namespace fastpix {

PaletteTable::PaletteTable(PaletteRule rule)
    : rule_(std::move(rule)),
      cache_(static_cast<uint16_t*>(std::calloc(size_t(1) << 24, sizeof(uint16_t)))) {
  if (!cache_) throw std::bad_alloc();
}

PaletteTable::~PaletteTable() { std::free(cache_); }

uint8_t PaletteTable::classify_uncached(uint8_t r, uint8_t g, uint8_t b) const {
  const std::vector<Rgb>& colors = rule_.colors;
  int best = -1;
  int index = 0;
  for (size_t k = 0; k < colors.size(); ++k) {
    const int dr = int(r) - colors[k][0];
    const int dg = int(g) - colors[k][1];
    const int db = int(b) - colors[k][2];
    const int d = dr * dr + dg * dg + db * db;
    if (best < 0 || d < best) {
      best = d;
      index = int(k);
    }
  }
  if (rule_.max_distance_sq >= 0.0f && float(best) > rule_.max_distance_sq) {
    index = rule_.ignore_index;
  }
  return rule_.lut[index & 0xff];
}

}  // namespace fastpix
