// The fused CUDA kernel: split, resize, crop, flip, normalize and palette-classify a batch of
// decoded side-by-side pairs, writing straight into the output tensors. Bit-identical to the
// CPU pipeline (csrc/cpu/pair_pipeline.cpp) for identical decoded pixels: the same Pillow
// fixed-point weights (computed on the host by csrc/cpu/resample.cpp), the same pass order and
// rounding, the same nearest-colour rule.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace fastpix {

// Offsets (in int32 elements) of one resampling axis inside the table blob: for output
// position i, `count[i]` source pixels from `first[i]` with weights[i * taps + t].
struct AxisTables {
  int first;
  int count;
  int weights;
  int taps;
};

struct PairParams {
  const uint8_t* image;  // decoded RGB, rows `pitch` bytes apart: photo | target halves
  int pitch;
  int half_width;  // width of each half
  int height;
  int top;  // crop window corner in resized pixels
  int left;
  int flip;
  int vertical_first;    // Pillow's pass order for this source size
  AxisTables horizontal;  // identity tables (one tap of weight 1 << 22) when not resized
  AxisTables vertical;
  int nearest_x;  // offsets of the nearest-neighbour source index tables (int32)
  int nearest_y;
};

enum TargetMode { kTargetClasses = 0, kTargetImage = 1 };

struct KernelArgs {
  const PairParams* pairs;  // [N] device
  const int32_t* tables;    // device blob the AxisTables/nearest offsets point into
  const void* lut;          // [3][256] photo elements (device)
  const uint8_t* palette;   // [K][3] mask colours (device)
  int palette_size;         // K
  const uint8_t* mask_lut;  // [256] palette index (or ignore_index) → class id (device)
  int ignore_index;
  float max_distance_sq;  // < 0: no limit
  int target_mode;        // TargetMode
  void* photo_out;        // [N][3][out_height][out_width]
  void* target_out;       // [N][out_height][out_width] class ids or [N][3][H][W] image
  int out_height;
  int out_width;
};

// Enqueues the kernel for `num_pairs` pairs on `stream`. photo_elem_size 2 (float16/bfloat16
// bits, the LUT holds them) or 4 (float32); class_elem_size 1 (uint8) or 8 (int64).
cudaError_t launch_pair_kernel(const KernelArgs& args, int num_pairs, int photo_elem_size,
                               int class_elem_size, cudaStream_t stream);

}  // namespace fastpix
