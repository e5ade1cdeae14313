#include "cuda/pair_kernel.h"

namespace fastpix {
namespace {

constexpr int kPrecisionBits = 22;  // Pillow's fixed point, as csrc/cpu/resample.h
constexpr int kRoundingBias = 1 << (kPrecisionBits - 1);
constexpr int kBlockX = 32;
constexpr int kBlockY = 8;

__device__ __forceinline__ int clip8(int sum) {
  const int v = sum >> kPrecisionBits;
  return v < 0 ? 0 : (v > 255 ? 255 : v);
}

// One resized RGB pixel at resized (col, row) of the half starting `offset` bytes into each
// row, with Pillow's two passes (each rounded to uint8) in Pillow's order.
__device__ void resample_pixel(const PairParams& p, const int32_t* tables, int offset, int col,
                               int row, int rgb[3]) {
  const int x0 = tables[p.horizontal.first + col];
  const int xn = tables[p.horizontal.count + col];
  const int32_t* xw = tables + p.horizontal.weights + col * p.horizontal.taps;
  const int y0 = tables[p.vertical.first + row];
  const int yn = tables[p.vertical.count + row];
  const int32_t* yw = tables + p.vertical.weights + row * p.vertical.taps;
  const uint8_t* base = p.image + offset;
  int acc[3] = {kRoundingBias, kRoundingBias, kRoundingBias};
  if (!p.vertical_first) {
    for (int j = 0; j < yn; ++j) {
      const uint8_t* src = base + size_t(y0 + j) * p.pitch + 3 * x0;
      int h[3] = {kRoundingBias, kRoundingBias, kRoundingBias};
      for (int i = 0; i < xn; ++i) {
        for (int c = 0; c < 3; ++c) h[c] += src[3 * i + c] * xw[i];
      }
      for (int c = 0; c < 3; ++c) acc[c] += clip8(h[c]) * yw[j];
    }
  } else {
    for (int i = 0; i < xn; ++i) {
      const uint8_t* src = base + size_t(y0) * p.pitch + 3 * (x0 + i);
      int v[3] = {kRoundingBias, kRoundingBias, kRoundingBias};
      for (int j = 0; j < yn; ++j) {
        for (int c = 0; c < 3; ++c) v[c] += src[size_t(j) * p.pitch + c] * yw[j];
      }
      for (int c = 0; c < 3; ++c) acc[c] += clip8(v[c]) * xw[i];
    }
  }
  for (int c = 0; c < 3; ++c) rgb[c] = clip8(acc[c]);
}

// pairs: [N]; photo_out: [N][3][H][W] PhotoT; target_out: [N][H][W] ClassT or [N][3][H][W]
// PhotoT; one thread per output pixel, blockIdx.z = pair.
template <typename PhotoT, typename ClassT>
__global__ void pair_kernel(KernelArgs a) {
  // Mask colours (K×3) then the 256-entry class table, for the classification below.
  extern __shared__ uint8_t shared[];
  uint8_t* palette = shared;
  uint8_t* mask_lut = shared + 3 * a.palette_size;
  if (a.target_mode == kTargetClasses) {
    const int tid = threadIdx.y * blockDim.x + threadIdx.x;
    const int threads = blockDim.x * blockDim.y;
    for (int i = tid; i < 3 * a.palette_size; i += threads) palette[i] = a.palette[i];
    for (int i = tid; i < 256; i += threads) mask_lut[i] = a.mask_lut[i];
  }
  __syncthreads();

  const int x = blockIdx.x * blockDim.x + threadIdx.x;
  const int y = blockIdx.y * blockDim.y + threadIdx.y;
  const int n = blockIdx.z;
  const int W = a.out_width;
  const int H = a.out_height;
  if (x >= W || y >= H) return;
  const PairParams& p = a.pairs[n];
  const int col = p.left + (p.flip ? W - 1 - x : x);
  const int row = p.top + y;
  const size_t plane = size_t(H) * W;
  const size_t at = size_t(y) * W + x;
  const PhotoT* lut = static_cast<const PhotoT*>(a.lut);

  int rgb[3];
  resample_pixel(p, a.tables, 0, col, row, rgb);
  PhotoT* photo = static_cast<PhotoT*>(a.photo_out) + n * 3 * plane + at;
  photo[0] = lut[rgb[0]];
  photo[plane] = lut[256 + rgb[1]];
  photo[2 * plane] = lut[512 + rgb[2]];

  if (a.target_mode == kTargetImage) {
    resample_pixel(p, a.tables, 3 * p.half_width, col, row, rgb);
    PhotoT* image = static_cast<PhotoT*>(a.target_out) + n * 3 * plane + at;
    image[0] = lut[rgb[0]];
    image[plane] = lut[256 + rgb[1]];
    image[2 * plane] = lut[512 + rgb[2]];
    return;
  }
  // Nearest source pixel of the mask half, then the nearest mask colour (ties: lowest index).
  const int sx = a.tables[p.nearest_x + col];
  const int sy = a.tables[p.nearest_y + row];
  const uint8_t* px = p.image + size_t(sy) * p.pitch + 3 * (p.half_width + sx);
  int best = -1;
  int index = 0;
  for (int k = 0; k < a.palette_size; ++k) {
    const int dr = int(px[0]) - palette[3 * k];
    const int dg = int(px[1]) - palette[3 * k + 1];
    const int db = int(px[2]) - palette[3 * k + 2];
    const int d = dr * dr + dg * dg + db * db;
    if (best < 0 || d < best) {
      best = d;
      index = k;
    }
  }
  if (a.max_distance_sq >= 0.0f && float(best) > a.max_distance_sq) index = a.ignore_index;
  static_cast<ClassT*>(a.target_out)[n * plane + at] = ClassT(mask_lut[index & 0xff]);
}

template <typename PhotoT, typename ClassT>
cudaError_t launch(const KernelArgs& args, int num_pairs, cudaStream_t stream) {
  const dim3 block(kBlockX, kBlockY);
  const dim3 grid((args.out_width + kBlockX - 1) / kBlockX,
                  (args.out_height + kBlockY - 1) / kBlockY, num_pairs);
  const size_t shared = args.target_mode == kTargetClasses ? 3 * args.palette_size + 256 : 0;
  pair_kernel<PhotoT, ClassT><<<grid, block, shared, stream>>>(args);
  return cudaGetLastError();
}

}  // namespace

cudaError_t launch_pair_kernel(const KernelArgs& args, int num_pairs, int photo_elem_size,
                               int class_elem_size, cudaStream_t stream) {
  if (num_pairs == 0) return cudaSuccess;
  if (num_pairs > 65535) return cudaErrorInvalidConfiguration;  // grid z limit
  if (photo_elem_size == 4) {
    return class_elem_size == 1 ? launch<float, uint8_t>(args, num_pairs, stream)
                                : launch<float, int64_t>(args, num_pairs, stream);
  }
  return class_elem_size == 1 ? launch<uint16_t, uint8_t>(args, num_pairs, stream)
                              : launch<uint16_t, int64_t>(args, num_pairs, stream);
}

}  // namespace fastpix
