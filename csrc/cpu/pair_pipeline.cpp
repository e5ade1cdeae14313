#include "cpu/pair_pipeline.h"

#include <algorithm>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <utility>

#include "cpu/decode_image.h"
#include "cpu/stream_store.h"
#include "cpu/vectorize.h"

namespace fastpix {
namespace {

// A decode failure of one of the two files of a pair.
struct SourceError : DecodeError {
  SourceError(int source, const std::string& message) : DecodeError(message), source(source) {}
  int source;
};

// Pixels of one half or file: rows `stride` bytes apart.
struct View {
  const uint8_t* data = nullptr;
  int width = 0;
  int height = 0;
  int channels = 0;
  size_t stride = 0;
  const uint8_t* row(int y) const { return data + size_t(y) * stride; }
};

struct Window {
  int top, left, height, width;
  bool flip;
  // The resized column that output column x shows.
  int column(int x) const { return left + (flip ? width - 1 - x : x); }
};

std::string size_text(int width, int height) {
  return std::to_string(width) + "x" + std::to_string(height);
}

// Buffers of the two-pass resize, kept between pairs so steady state allocates nothing.
struct ResampleScratch {
  ResampleAxis horizontal;
  ResampleAxis vertical;
  std::vector<uint8_t> rows;  // the first pass's output (only what the crop window needs)
  std::vector<int32_t> sums;  // one row of vertical sums
  std::vector<uint8_t> line;  // one output row of the vertical pass
  std::vector<uint8_t> staged;  // one normalized output row per plane, before stream_copy
};

// Scratch of the nearest-neighbour mask resize.
struct NearestScratch {
  std::vector<int> columns;  // source column of each resized column
  std::vector<int> rows;     // source row of each resized row
  std::vector<int> offsets;  // byte offset of the source pixel each output column shows
  std::vector<uint8_t> staged;  // one output row of class ids, before stream_copy
};

}  // namespace

struct PairDecoder::Scratch {
  std::vector<uint8_t> file;
  Image image;
  Image label;
  ResampleScratch resample;
  NearestScratch nearest;
};

namespace {

void load_axis(int in_size, int out_size, Filter filter, ResampleAxis& axis) {
  if (axis.in_size != in_size || axis.out_size != out_size || axis.weights.empty()) {
    compute_resample_axis(in_size, out_size, filter, axis);
    pad_to_uniform_taps(axis);
  }
}

// Decodes (or wraps) a source as a View. `file` and `image` are the worker's buffers.
View load_source(const Source& source, int index, const DecodeOptions& options,
                 std::vector<uint8_t>& file, Image& image) {
  try {
    if (source.pixels) {
      return View{source.pixels, source.width, source.height, source.channels,
                  size_t(source.width) * source.channels};
    }
    const uint8_t* data = source.data;
    size_t size = source.size;
    if (!data) {
      read_file(source.path, file);
      data = file.data();
      size = file.size();
    }
    decode_image(data, size, options, image);
    return View{image.pixels.data(), image.width, image.height, image.channels,
                size_t(image.width) * image.channels};
  } catch (const std::bad_alloc&) {
    throw SourceError(index, "out of memory while decoding");
  } catch (const DecodeError& e) {
    throw SourceError(index, e.what());
  }
}

// One RGB pixel's three sums in the first lanes of a 4-lane vector (GCC/Clang vector
// extensions: SSE/AVX on x86-64, NEON on aarch64).
typedef int32_t Lanes __attribute__((vector_size(16)));

// The K-tap sums of the pixel whose taps start at p. Each tap loads 4 bytes (the 4th lane is
// ignored) except, at the end of a row, the last one.
template <int K, bool kAtRowEnd>
FASTPIX_ALWAYS_INLINE Lanes pixel_sums(const uint8_t* p, const int32_t* w) {
  int32_t acc[4] = {kRoundingBias, kRoundingBias, kRoundingBias, kRoundingBias};
  for (int t = 0; t < K; ++t) {
    const int lanes = kAtRowEnd && t == K - 1 ? 3 : 4;
    for (int c = 0; c < lanes; ++c) acc[c] += p[3 * t + c] * w[t];
  }
  Lanes sum;
  std::memcpy(&sum, acc, sizeof(sum));
  return sum;
}

// clip8 of the lanes, packed into the low bytes of a word (lane 0 first in memory).
FASTPIX_ALWAYS_INLINE uint32_t clip8_lanes(Lanes sum) {
  typedef uint8_t Bytes __attribute__((vector_size(16)));
  Lanes v = sum >> kPrecisionBits;
  v = v < 0 ? 0 : v;
  v = v > 255 ? 255 : v;
  // Each lane's low byte (little-endian; big-endian hosts read lanes' last bytes).
  constexpr int low = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? 0 : 3;
  const Bytes bytes = (Bytes)v;
#if defined(__clang__)
  const Bytes packed = __builtin_shufflevector(bytes, bytes, low, 4 + low, 8 + low, 12 + low, 0,
                                               0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
#else
  const Bytes packed = __builtin_shuffle(
      bytes, Bytes{low, 4 + low, 8 + low, 12 + low, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
#endif
  uint32_t word;
  std::memcpy(&word, &packed, sizeof(word));
  return word;
}

// Horizontal pass, `K` taps per output (pad_to_uniform_taps): resized columns first_col ..
// first_col + count - 1 of one RGB row of `row_pixels` pixels, whose first pixel is source
// column `offset`, into out[3 * count]. kLanes: one pixel's sums in a vector (else scalars).
template <int K, bool kLanes>
FASTPIX_ALWAYS_INLINE void filter_columns_fixed(const uint8_t* row, int row_pixels, int offset,
                                                const ResampleAxis& axis, int first_col,
                                                int count, uint8_t* __restrict out) {
  const int* first = axis.first.data();
  const int32_t* weights = axis.weights.data();
  const int taps = axis.taps;
  for (int x = 0; x < count; ++x) {
    const int col = first_col + x;
    const int start = first[col] - offset;
    const uint8_t* p = row + 3 * start;
    const int32_t* w = weights + size_t(col) * taps;
    if (kLanes) {
      const uint32_t pixel = clip8_lanes(start + K < row_pixels ? pixel_sums<K, false>(p, w)
                                                                : pixel_sums<K, true>(p, w));
      // 4 bytes (the next pixel overwrites the 4th) except for the last pixel. Two constant
      // sizes, not one variable one: clang calls memcpy for a variable size, once per pixel.
      if (x + 1 < count) {
        std::memcpy(out + 3 * x, &pixel, 4);
      } else {
        std::memcpy(out + 3 * x, &pixel, 3);
      }
    } else {
      int32_t s0 = kRoundingBias, s1 = kRoundingBias, s2 = kRoundingBias;
      for (int t = 0; t < K; ++t) {
        s0 += p[3 * t + 0] * w[t];
        s1 += p[3 * t + 1] * w[t];
        s2 += p[3 * t + 2] * w[t];
      }
      out[3 * x + 0] = clip8(s0);
      out[3 * x + 1] = clip8(s1);
      out[3 * x + 2] = clip8(s2);
    }
  }
}

template <bool kLanes>
FASTPIX_ALWAYS_INLINE void filter_columns_any(const uint8_t* row, int row_pixels, int offset,
                                              const ResampleAxis& axis, int first_col, int count,
                                              uint8_t* __restrict out) {
  switch (axis.count[0]) {
#define FASTPIX_TAPS_CASE(K)                                                                 \
  case K:                                                                                    \
    return filter_columns_fixed<K, kLanes>(row, row_pixels, offset, axis, first_col, count, \
                                           out);
    FASTPIX_TAPS_CASE(1)
    FASTPIX_TAPS_CASE(2)
    FASTPIX_TAPS_CASE(3)
    FASTPIX_TAPS_CASE(4)
    FASTPIX_TAPS_CASE(5)
    FASTPIX_TAPS_CASE(6)
#undef FASTPIX_TAPS_CASE
  }
  const int* first = axis.first.data();
  const int32_t* weights = axis.weights.data();
  const int taps = axis.taps;
  const int n = axis.count[0];
  for (int x = 0; x < count; ++x) {
    const int col = first_col + x;
    const int32_t* w = weights + size_t(col) * taps;
    const uint8_t* p = row + 3 * (first[col] - offset);
    int32_t s0 = kRoundingBias, s1 = kRoundingBias, s2 = kRoundingBias;
    for (int t = 0; t < n; ++t, p += 3) {
      s0 += p[0] * w[t];
      s1 += p[1] * w[t];
      s2 += p[2] * w[t];
    }
    out[3 * x + 0] = clip8(s0);
    out[3 * x + 1] = clip8(s1);
    out[3 * x + 2] = clip8(s2);
  }
}

// Vertical pass, `K` taps: len bytes of one output row from the K rows at `in`, `stride`
// apart, weighted by w[K].
template <int K>
FASTPIX_ALWAYS_INLINE void filter_row_fixed(const uint8_t* in, size_t stride, const int32_t* w,
                                            size_t len, uint8_t* __restrict out) {
  const uint8_t* rows[K];
  int32_t wt[K];
  for (int t = 0; t < K; ++t) {
    rows[t] = in + size_t(t) * stride;
    wt[t] = w[t];
  }
  for (size_t j = 0; j < len; ++j) {
    int32_t sum = kRoundingBias;
    for (int t = 0; t < K; ++t) sum += rows[t][j] * wt[t];
    out[j] = clip8(sum);
  }
}

// Vertical pass: resized row `index` over `len` bytes of rows that start at `base`, `stride`
// apart, the first being source row `offset`. `sums` holds len values (the long-filter path).
FASTPIX_ALWAYS_INLINE void filter_row_any(const uint8_t* base, size_t stride, int offset,
                                          const ResampleAxis& axis, int index, size_t len,
                                          int32_t* __restrict sums, uint8_t* __restrict out) {
  const int32_t* w = axis.weights.data() + size_t(index) * axis.taps;
  const uint8_t* in = base + size_t(axis.first[index] - offset) * stride;
  switch (axis.count[index]) {
    case 1: return filter_row_fixed<1>(in, stride, w, len, out);
    case 2: return filter_row_fixed<2>(in, stride, w, len, out);
    case 3: return filter_row_fixed<3>(in, stride, w, len, out);
    case 4: return filter_row_fixed<4>(in, stride, w, len, out);
    case 5: return filter_row_fixed<5>(in, stride, w, len, out);
    case 6: return filter_row_fixed<6>(in, stride, w, len, out);
  }
  for (size_t j = 0; j < len; ++j) sums[j] = kRoundingBias;
  for (int t = 0, n = axis.count[index]; t < n; ++t, in += stride) {
    const int32_t wt = w[t];
    for (size_t j = 0; j < len; ++j) sums[j] += in[j] * wt;
  }
  for (size_t j = 0; j < len; ++j) out[j] = clip8(sums[j]);
}

// The two passes' entry points, one body per instruction set (vectorize.h). The horizontal one
// uses the pixel-vector kernel where 32-bit lanes are fast (AVX2, NEON), scalars on baseline
// x86-64.
#ifdef FASTPIX_VERSION_AVX2
#ifdef __clang__
// clang 14 reports the AVX2 bodies as unused, though the load-time resolver calls them.
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wunused-function"
#endif
FASTPIX_VERSION_AVX2
void filter_columns(const uint8_t* row, int row_pixels, int offset, const ResampleAxis& axis,
                    int first_col, int count, uint8_t* __restrict out) {
  filter_columns_any<true>(row, row_pixels, offset, axis, first_col, count, out);
}

FASTPIX_VERSION_AVX2
void filter_row(const uint8_t* base, size_t stride, int offset, const ResampleAxis& axis,
                int index, size_t len, int32_t* __restrict sums, uint8_t* __restrict out) {
  filter_row_any(base, stride, offset, axis, index, len, sums, out);
}
#ifdef __clang__
#pragma clang diagnostic pop
#endif
#endif

FASTPIX_VERSION_DEFAULT
void filter_columns(const uint8_t* row, int row_pixels, int offset, const ResampleAxis& axis,
                    int first_col, int count, uint8_t* __restrict out) {
  filter_columns_any<kFastLanes>(row, row_pixels, offset, axis, first_col, count, out);
}

FASTPIX_VERSION_DEFAULT
void filter_row(const uint8_t* base, size_t stride, int offset, const ResampleAxis& axis,
                int index, size_t len, int32_t* __restrict sums, uint8_t* __restrict out) {
  filter_row_any(base, stride, offset, axis, index, len, sums, out);
}

// Writes one RGB row of the crop window (columns in source order) as output row y of the three
// planes out[3][H][W], each value mapped through lut[3][256], mirrored when the window flips.
// `staged` holds 3 × W elements.
template <typename T>
void write_row(const uint8_t* row, int y, const Window& win, const T* lut, T* staged, T* out) {
  const size_t plane = size_t(win.height) * win.width;
  const int w = win.width;
  T* r = staged;
  T* g = r + w;
  T* b = g + w;
  for (int x = 0; x < w; ++x) {
    const uint8_t* px = row + 3 * (win.flip ? w - 1 - x : x);
    r[x] = lut[px[0]];
    g[x] = lut[256 + px[1]];
    b[x] = lut[512 + px[2]];
  }
  for (int c = 0; c < 3; ++c) {
    stream_copy(out + c * plane + size_t(y) * w, staged + c * w, sizeof(T) * w);
  }
}

// Resize `src` (RGB) to load size as Pillow's Image.resize does (two passes, each rounded to
// uint8, in Pillow's order), computing only the pixels the crop window shows; then flip and
// normalize into planar out[3][H][W].
template <typename T>
void write_image(const View& src, const PairConfig& config, const Window& win, const T* lut,
                 T* out, ResampleScratch& s) {
  const bool resize_x = src.width != config.load_width;
  const bool resize_y = src.height != config.load_height;
  if (resize_x) load_axis(src.width, config.load_width, config.filter, s.horizontal);
  if (resize_y) load_axis(src.height, config.load_height, config.filter, s.vertical);
  const size_t row_len = size_t(win.width) * 3;
  s.line.resize(row_len);
  s.staged.resize(row_len * sizeof(T));
  T* staged = reinterpret_cast<T*>(s.staged.data());

  if (resize_x && pillow_vertical_first(src.width, src.height, config.load_width,
                                        config.load_height)) {
    // Per output row: the vertical pass over the source columns the window's horizontal
    // filters read, then the horizontal pass of that row.
    const int last = win.left + win.width - 1;
    const int col_first = s.horizontal.first[win.left];
    const int col_end = s.horizontal.first[last] + s.horizontal.count[last];
    const size_t span = size_t(col_end - col_first) * 3;
    s.rows.resize(span);
    s.sums.resize(span);
    for (int y = 0; y < win.height; ++y) {
      filter_row(src.data + size_t(col_first) * 3, src.stride, 0, s.vertical, win.top + y, span,
                 s.sums.data(), s.rows.data());
      filter_columns(s.rows.data(), col_end - col_first, col_first, s.horizontal, win.left,
                     win.width, s.line.data());
      write_row(s.line.data(), y, win, lut, staged, out);
    }
    return;
  }

  // The horizontal pass of the source rows the window needs (or, when the width is kept, the
  // source rows themselves) ...
  const uint8_t* rows = src.data + size_t(win.left) * 3;
  size_t stride = src.stride;
  int rows_first = 0;  // source row of rows[0]
  if (resize_x) {
    int row_end = win.top + win.height;
    rows_first = win.top;
    if (resize_y) {
      const int last = win.top + win.height - 1;
      rows_first = s.vertical.first[win.top];
      row_end = s.vertical.first[last] + s.vertical.count[last];
    }
    s.rows.resize(size_t(row_end - rows_first) * row_len);
    for (int r = rows_first; r < row_end; ++r) {
      filter_columns(src.row(r), src.width, 0, s.horizontal, win.left, win.width,
                     s.rows.data() + size_t(r - rows_first) * row_len);
    }
    rows = s.rows.data();
    stride = row_len;
  }
  // ... then the vertical pass (or the rows as they are) into the output.
  s.sums.resize(row_len);
  for (int y = 0; y < win.height; ++y) {
    const uint8_t* row = rows + size_t(win.top + y - rows_first) * stride;
    if (resize_y) {
      filter_row(rows, stride, rows_first, s.vertical, win.top + y, row_len, s.sums.data(),
                 s.line.data());
      row = s.line.data();
    }
    write_row(row, y, win, lut, staged, out);
  }
}

// Nearest-neighbour resize of `src` to load size, cropped and flipped, each picked pixel turned
// into a class id by `classify(pixel pointer)`.
template <typename C, typename Classify>
void write_classes(const View& src, const PairConfig& config, const Window& win, C* out,
                   NearestScratch& s, Classify classify) {
  compute_nearest_axis(src.height, config.load_height, s.rows);
  compute_nearest_axis(src.width, config.load_width, s.columns);
  s.offsets.resize(win.width);
  for (int x = 0; x < win.width; ++x) s.offsets[x] = s.columns[win.column(x)] * src.channels;
  const int* offsets = s.offsets.data();
  s.staged.resize(sizeof(C) * win.width);
  C* o = reinterpret_cast<C*>(s.staged.data());
  for (int y = 0; y < win.height; ++y) {
    // An upscaled mask repeats source rows: the staged row is then already this one.
    if (y == 0 || s.rows[win.top + y] != s.rows[win.top + y - 1]) {
      const uint8_t* in = src.row(s.rows[win.top + y]);
      for (int x = 0; x < win.width; ++x) o[x] = C(classify(in + offsets[x]));
    }
    stream_copy(out + size_t(y) * win.width, o, sizeof(C) * win.width);
  }
}

template <typename C>
void write_target_classes(const View& src, const PairConfig& config, const Window& win,
                          const PaletteTable* palette, uint8_t* out, NearestScratch& s) {
  C* typed = reinterpret_cast<C*>(out);
  if (config.target == TargetKind::kClassesFromColors) {
    // Masks are mostly runs of one colour: classify a colour again only when it changes.
    uint32_t last_color = ~0u;
    uint8_t last_class = 0;
    write_classes(src, config, win, typed, s, [&](const uint8_t* p) {
      const uint32_t color = (uint32_t(p[0]) << 16) | (uint32_t(p[1]) << 8) | p[2];
      if (color != last_color) {
        last_color = color;
        last_class = palette->classify(p[0], p[1], p[2]);
      }
      return last_class;
    });
  } else {
    const uint8_t* lut = config.id_lut.data();
    write_classes(src, config, win, typed, s, [lut](const uint8_t* p) { return lut[*p]; });
  }
}

}  // namespace

PairDecoder::PairDecoder(PairConfig config, std::unique_ptr<PaletteTable> palette,
                         int num_threads)
    : config_(std::move(config)), palette_(std::move(palette)), pool_(num_threads) {
  if (config_.target == TargetKind::kClassesFromColors && !palette_) {
    throw std::invalid_argument("classes from mask colours need a palette");
  }
  if (config_.photo_elem_size != 2 && config_.photo_elem_size != 4) {
    throw std::invalid_argument("photo elements must be 2 (float16) or 4 (float32) bytes");
  }
  if (config_.photo_lut.size() != size_t(3 * 256 * config_.photo_elem_size)) {
    throw std::invalid_argument("photo_lut must hold 3 x 256 elements");
  }
  if (config_.class_elem_size != 1 && config_.class_elem_size != 8) {
    throw std::invalid_argument("class ids must be 1 (uint8) or 8 (int64) bytes");
  }
  if (config_.load_height < 1 || config_.load_width < 1 || config_.out_height < 1 ||
      config_.out_width < 1 || config_.out_height > config_.load_height ||
      config_.out_width > config_.load_width) {
    throw std::invalid_argument("need 1 <= out size <= load size");
  }
  if (!config_.side_by_side && config_.target != TargetKind::kClassesFromIds) {
    throw std::invalid_argument("separate photo and label files give class ids");
  }
  for (int w = 0; w < num_threads; ++w) scratch_.push_back(std::make_unique<Scratch>());
}

PairDecoder::~PairDecoder() = default;

void PairDecoder::decode_pair(const PairJob& job, Scratch& s, uint8_t* photo_out,
                              uint8_t* target_out) {
  const PairConfig& cfg = config_;
  DecodeOptions photo_options;
  photo_options.mode = ColorMode::kRGB;
  photo_options.max_pixels = cfg.max_pixels;
  if (cfg.jpeg_draft && !cfg.require_load_size) {
    photo_options.draft_width = cfg.load_width * (cfg.side_by_side ? 2 : 1);
    photo_options.draft_height = cfg.load_height;
    photo_options.draft_even_width = cfg.side_by_side;
  }
  View photo = load_source(job.first, 0, photo_options, s.file, s.image);
  if (photo.channels != 3) {
    throw SourceError(0, "expected 3 colour channels, got " + std::to_string(photo.channels));
  }
  View target;
  if (cfg.side_by_side) {
    if (photo.width % 2 != 0) {
      throw SourceError(0, "width " + std::to_string(photo.width) +
                               " is odd: a side-by-side pair needs two halves of equal width");
    }
    photo.width /= 2;
    target = photo;
    target.data = photo.data + size_t(photo.width) * 3;
  } else {
    DecodeOptions label_options;
    label_options.mode = ColorMode::kUnchanged;
    label_options.max_pixels = cfg.max_pixels;
    target = load_source(job.second, 1, label_options, s.file, s.label);
    if (target.channels != 1) {
      throw SourceError(1, "a label-id map must have one channel (8-bit grey or palette "
                           "indices), got " + std::to_string(target.channels));
    }
  }
  if (cfg.require_load_size) {
    const int source = cfg.side_by_side ? 0 : 1;
    for (const View* v : {&photo, &target}) {
      if (v->width != cfg.load_width || v->height != cfg.load_height) {
        throw SourceError(v == &photo ? 0 : source,
                          (cfg.side_by_side ? "halves are " : "image is ") +
                              size_text(v->width, v->height) + ", expected " +
                              size_text(cfg.load_width, cfg.load_height) +
                              " like the first pair (give load_size to resize every pair)");
      }
    }
  }

  const Window win{job.top, job.left, cfg.out_height, cfg.out_width, job.flip};
  if (cfg.photo_elem_size == 4) {
    const auto* lut = reinterpret_cast<const float*>(cfg.photo_lut.data());
    write_image(photo, cfg, win, lut, reinterpret_cast<float*>(photo_out), s.resample);
    if (cfg.target == TargetKind::kImage) {
      write_image(target, cfg, win, lut, reinterpret_cast<float*>(target_out), s.resample);
    }
  } else {
    const auto* lut = reinterpret_cast<const uint16_t*>(cfg.photo_lut.data());
    write_image(photo, cfg, win, lut, reinterpret_cast<uint16_t*>(photo_out), s.resample);
    if (cfg.target == TargetKind::kImage) {
      write_image(target, cfg, win, lut, reinterpret_cast<uint16_t*>(target_out), s.resample);
    }
  }
  if (cfg.target != TargetKind::kImage) {
    if (cfg.class_elem_size == 1) {
      write_target_classes<uint8_t>(target, cfg, win, palette_.get(), target_out, s.nearest);
    } else {
      write_target_classes<int64_t>(target, cfg, win, palette_.get(), target_out, s.nearest);
    }
  }
  stream_fence();
}

std::vector<PairError> PairDecoder::decode(const std::vector<PairJob>& jobs, void* photo_out,
                                           void* target_out) {
  const PairConfig& cfg = config_;
  for (const PairJob& job : jobs) {
    if (job.top < 0 || job.left < 0 || job.top + cfg.out_height > cfg.load_height ||
        job.left + cfg.out_width > cfg.load_width) {
      throw std::invalid_argument("crop window outside the load size");
    }
  }
  const size_t plane = size_t(cfg.out_height) * cfg.out_width;
  const size_t photo_bytes = 3 * plane * cfg.photo_elem_size;
  const size_t target_bytes = cfg.target == TargetKind::kImage ? photo_bytes
                                                                : plane * cfg.class_elem_size;
  std::vector<PairError> errors;
  std::mutex errors_mutex;
  pool_.parallel_for(int(jobs.size()), [&](int worker, int i) {
    try {
      decode_pair(jobs[i], *scratch_[worker], static_cast<uint8_t*>(photo_out) + i * photo_bytes,
                  static_cast<uint8_t*>(target_out) + i * target_bytes);
    } catch (const SourceError& e) {
      std::lock_guard<std::mutex> lock(errors_mutex);
      errors.push_back({i, e.source, e.what()});
    } catch (const std::bad_alloc&) {
      std::lock_guard<std::mutex> lock(errors_mutex);
      errors.push_back({i, 0, "out of memory"});
    }
  });
  std::sort(errors.begin(), errors.end(),
            [](const PairError& a, const PairError& b) { return a.index < b.index; });
  return errors;
}

std::vector<PairError> PairDecoder::decode_only(const std::vector<Source>& sources) {
  DecodeOptions options;
  options.max_pixels = config_.max_pixels;
  std::vector<PairError> errors;
  std::mutex errors_mutex;
  pool_.parallel_for(int(sources.size()), [&](int worker, int i) {
    Scratch& s = *scratch_[worker];
    try {
      load_source(sources[i], 0, options, s.file, s.image);
    } catch (const SourceError& e) {
      std::lock_guard<std::mutex> lock(errors_mutex);
      errors.push_back({i, 0, e.what()});
    }
  });
  return errors;
}

}  // namespace fastpix
