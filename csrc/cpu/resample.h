// Resampling weights that reproduce Pillow's Image.resize bit for bit.
//
// Bilinear/bicubic: Pillow's separable two-pass filter (horizontal pass first, rounded to
// uint8, then vertical), antialiased when downscaling (the support grows with the scale), with
// weights in 22-bit fixed point. Nearest: Pillow's affine scale, whose source position is a
// running double sum, so indices match Pillow's even where (x + 0.5) * in / out rounds the
// other way. Shared by the CPU pipeline and the CUDA kernel.
#pragma once

#include <cstdint>
#include <vector>

namespace fastpix {

enum class Filter { kBilinear, kBicubic };

constexpr int kPrecisionBits = 22;

// Output pixel i of one axis =
//   clip8(sum over t < count[i] of in[first[i] + t] * weights[i * taps + t]).
struct ResampleAxis {
  int in_size = 0;
  int out_size = 0;
  int taps = 0;
  std::vector<int> first;
  std::vector<int> count;
  std::vector<int32_t> weights;
};

void compute_resample_axis(int in_size, int out_size, Filter filter, ResampleAxis& axis);

// Widens every output's window to the longest one (count[i] = max count for all i), moving
// `first` back where the window would pass the source's end and giving the added taps weight
// 0: the same sums, but a loop with a fixed number of taps (the CPU pipeline's fast kernels).
void pad_to_uniform_taps(ResampleAxis& axis);

// Pillow's nearest-neighbour source index of each output position along one axis.
void compute_nearest_axis(int in_size, int out_size, std::vector<int>& index);

// Pillow's pass order (Pillow >= 13; older versions always went horizontal first): the
// vertical pass runs first when the height shrinks by more than twice as many pixels as the
// width. Both passes round to uint8, so the order matters to the last bit.
inline bool pillow_vertical_first(int in_width, int in_height, int out_width, int out_height) {
  const int shrink_y = in_height - out_height;
  return shrink_y > 0 && shrink_y > (in_width - out_width) * 2;
}

// The accumulator starts at half a unit so the final shift rounds to nearest.
constexpr int32_t kRoundingBias = 1 << (kPrecisionBits - 1);

inline uint8_t clip8(int32_t sum) {
  const int32_t v = sum >> kPrecisionBits;  // arithmetic shift: floor for negative sums
  return uint8_t(v < 0 ? 0 : (v > 255 ? 255 : v));
}

}  // namespace fastpix
