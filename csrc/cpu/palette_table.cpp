#include "cpu/palette_table.h"

#include <cstdlib>
#include <new>
#include <utility>

namespace fastpix {

PaletteTable::PaletteTable(PaletteRule rule)
    : rule_(std::move(rule)),
      cells_(static_cast<uint16_t*>(std::calloc(size_t(1) << 15, sizeof(uint16_t)))),
      cache_(static_cast<uint16_t*>(std::calloc(size_t(1) << 24, sizeof(uint16_t)))) {
  if (!cells_ || !cache_) {
    std::free(cells_);
    std::free(cache_);
    throw std::bad_alloc();
  }
}

PaletteTable::~PaletteTable() {
  std::free(cells_);
  std::free(cache_);
}

namespace {

// The smallest and largest of (v - q)² over the values lo <= v <= hi.
void squared_range(int q, int lo, int hi, int& low, int& high) {
  const int below = q < lo ? lo - q : (q > hi ? q - hi : 0);
  const int far = q - lo > hi - q ? q - lo : hi - q;
  low = below * below;
  high = far * far;
}

}  // namespace

uint16_t PaletteTable::classify_cell(uint32_t cell) const {
  const int lo[3] = {int(cell >> 10) << 3, int((cell >> 5) & 31) << 3, int(cell & 31) << 3};
  const std::vector<Rgb>& colors = rule_.colors;
  // Bounds of each mask colour's squared distance over the cell's colours.
  std::vector<int> nearest(colors.size()), farthest(colors.size());
  size_t best = 0;
  for (size_t k = 0; k < colors.size(); ++k) {
    nearest[k] = farthest[k] = 0;
    for (int c = 0; c < 3; ++c) {
      int low, high;
      squared_range(colors[k][c], lo[c], lo[c] + 7, low, high);
      nearest[k] += low;
      farthest[k] += high;
    }
    if (farthest[k] < farthest[best]) best = k;
  }
  // Mask colour `best` is the strict nearest of every colour in the cell when even its
  // farthest distance beats every other colour's nearest one (so ties cannot arise).
  for (size_t k = 0; k < colors.size(); ++k) {
    if (k != best && nearest[k] <= farthest[best]) return kMixedCell;
  }
  int index = int(best);
  if (rule_.max_distance_sq >= 0.0f) {
    if (float(nearest[best]) > rule_.max_distance_sq) {
      index = rule_.ignore_index;  // all beyond the limit
    } else if (float(farthest[best]) > rule_.max_distance_sq) {
      return kMixedCell;  // the limit runs through the cell
    }
  }
  return uint16_t(rule_.lut[index & 0xff] + 1);
}

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
