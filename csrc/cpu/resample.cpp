#include "cpu/resample.h"

#include <algorithm>
#include <cmath>

namespace fastpix {
namespace {

// The filters exactly as Pillow writes them (the operation order matters for the last bit).
double bilinear(double x) {
  if (x < 0.0) x = -x;
  if (x < 1.0) return 1.0 - x;
  return 0.0;
}

double bicubic(double x) {
  constexpr double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

}  // namespace

void compute_resample_axis(int in_size, int out_size, Filter filter, ResampleAxis& axis) {
  double (*kernel)(double) = filter == Filter::kBicubic ? bicubic : bilinear;
  const double kernel_support = filter == Filter::kBicubic ? 2.0 : 1.0;

  const double scale = double(float(in_size)) / out_size;
  const double filter_scale = scale < 1.0 ? 1.0 : scale;
  const double support = kernel_support * filter_scale;
  const int taps = int(std::ceil(support)) * 2 + 1;

  axis.in_size = in_size;
  axis.out_size = out_size;
  axis.taps = taps;
  axis.first.assign(out_size, 0);
  axis.count.assign(out_size, 0);
  axis.weights.assign(size_t(out_size) * taps, 0);

  std::vector<double> w(taps);
  for (int i = 0; i < out_size; ++i) {
    const double center = (i + 0.5) * scale;
    const double inv = 1.0 / filter_scale;
    int lo = int(center - support + 0.5);
    if (lo < 0) lo = 0;
    int hi = int(center + support + 0.5);
    if (hi > in_size) hi = in_size;
    const int n = hi - lo;
    double total = 0.0;
    for (int t = 0; t < n; ++t) {
      w[t] = kernel((t + lo - center + 0.5) * inv);
      total += w[t];
    }
    for (int t = 0; t < n; ++t) {
      const double v = total != 0.0 ? w[t] / total : w[t];
      const double fixed = v * (1 << kPrecisionBits);
      axis.weights[size_t(i) * taps + t] = int32_t(v < 0 ? -0.5 + fixed : 0.5 + fixed);
    }
    axis.first[i] = lo;
    axis.count[i] = n;
  }
}

void pad_to_uniform_taps(ResampleAxis& axis) {
  int longest = 0;
  for (int n : axis.count) longest = n > longest ? n : longest;
  // Every window lies in [0, in_size), so longest <= in_size and a widened one fits too.
  std::vector<int32_t> moved(axis.taps);
  for (int i = 0; i < axis.out_size; ++i) {
    const int first = axis.first[i];
    const int count = axis.count[i];
    const int widened_first = first + longest > axis.in_size ? axis.in_size - longest : first;
    const int shift = first - widened_first;
    int32_t* w = axis.weights.data() + size_t(i) * axis.taps;
    for (int t = 0; t < axis.taps; ++t) {
      moved[t] = t >= shift && t - shift < count ? w[t - shift] : 0;
    }
    std::copy(moved.begin(), moved.end(), w);
    axis.first[i] = widened_first;
    axis.count[i] = longest;
  }
}

void compute_nearest_axis(int in_size, int out_size, std::vector<int>& index) {
  index.resize(out_size);
  const double step = double(float(in_size)) / out_size;
  double position = step * 0.5;
  for (int i = 0; i < out_size; ++i) {
    int source = position < 0.0 ? -1 : int(position);
    if (source < 0) source = 0;
    if (source >= in_size) source = in_size - 1;
    index[i] = source;
    position += step;
  }
}

}  // namespace fastpix
