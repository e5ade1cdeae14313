// The GPU pair pipeline: the host reads the files (native threads) and computes the resampling
// tables; nvJPEG decodes the batch on the GPU; one fused kernel does everything else on the
// caller's stream, writing into the caller's (torch) device buffers. No pixel work on the host.
#pragma once

#include <cuda_runtime.h>

#include <array>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "cpu/pair_pipeline.h"
#include "cpu/resample.h"
#include "cpu/thread_pool.h"
#include "cuda/decode_jpegs_cuda.h"
#include "cuda/pair_kernel.h"

namespace fastpix {

struct CudaPairConfig {
  Filter filter = Filter::kBicubic;
  int load_height = 0;
  int load_width = 0;
  bool require_load_size = false;
  int out_height = 0;
  int out_width = 0;
  int photo_elem_size = 4;
  std::vector<uint8_t> photo_lut;  // 3 × 256 elements
  int class_elem_size = 1;
  bool target_image = false;     // else class ids from mask colours
  std::vector<uint8_t> palette;  // K × 3
  std::array<uint8_t, 256> mask_lut{};
  int ignore_index = 255;
  float max_distance_sq = -1.0f;
  int64_t max_pixels = kDefaultMaxPixels;
};

class CudaPairDecoder {
 public:
  CudaPairDecoder(CudaPairConfig config, int device, int num_threads);
  ~CudaPairDecoder();
  CudaPairDecoder(const CudaPairDecoder&) = delete;
  CudaPairDecoder& operator=(const CudaPairDecoder&) = delete;

  bool has_hardware_decoder() const { return jpeg_.has_hardware(); }

  // Enqueues the batch of side-by-side JPEG files on `stream`, writing photo_out
  // ([N][3][H][W]) and target_out ([N][H][W] or [N][3][H][W]) device memory. Returns "" when
  // done, else why this batch has to go through the CPU decoder (a file nvJPEG cannot decode,
  // an odd width, a size mismatch, a read error): then nothing was written.
  std::string decode(const std::vector<Source>& files, const std::vector<int>& tops,
                     const std::vector<int>& lefts, const std::vector<bool>& flips,
                     void* photo_out, void* target_out, cudaStream_t stream);

 private:
  struct Slot {
    std::vector<std::vector<uint8_t>> files;  // file bytes read for this batch
    int32_t* host_staging = nullptr;          // pinned: pair params then tables
    int32_t* device_staging = nullptr;
    size_t capacity = 0;  // int32 elements of each staging buffer
  };

  std::string read_files(const std::vector<Source>& files, Slot& slot,
                         std::vector<const uint8_t*>& data, std::vector<size_t>& sizes);
  void ensure_staging(Slot& slot, size_t elements);

  CudaPairConfig config_;
  int device_;
  JpegBatchDecoder jpeg_;
  ThreadPool pool_;
  std::mutex mutex_;  // one batch at a time
  Slot slots_[2];
  void* device_lut_ = nullptr;
  uint8_t* device_palette_ = nullptr;
  uint8_t* device_mask_lut_ = nullptr;
};

}  // namespace fastpix
