// The GPU pair pipeline: the host reads the files (native threads) and computes the resampling
// tables; nvJPEG decodes the batch on the GPU; one fused kernel does everything else on the
// caller's stream, writing into the caller's (torch) device buffers. No pixel work on the host.
#pragma once

#include <cuda_runtime.h>

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "cpu/pair_pipeline.h"
#include "cpu/palette_table.h"
#include "cpu/resample.h"
#include "cpu/thread_pool.h"
#include "cuda/decode_jpegs_cuda.h"
#include "cuda/pair_kernel.h"

namespace fastpix {

class CudaPairDecoder {
 public:
  // `config` as for the CPU PairDecoder, limited to side-by-side files, class ids from mask
  // colours (then `palette` is required) or image targets, and no JPEG draft scaling.
  CudaPairDecoder(PairConfig config, std::optional<PaletteRule> palette, int device,
                  int num_threads);
  ~CudaPairDecoder();
  CudaPairDecoder(const CudaPairDecoder&) = delete;
  CudaPairDecoder& operator=(const CudaPairDecoder&) = delete;

  bool has_hardware_decoder() const { return jpeg_->has_hardware(); }

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

  PairConfig config_;
  PaletteRule palette_;
  int device_;
  std::unique_ptr<JpegBatchDecoder> jpeg_;  // made after the arguments are checked
  ThreadPool pool_;
  std::mutex mutex_;  // one batch at a time
  Slot slots_[2];
  void* device_lut_ = nullptr;
  uint8_t* device_palette_ = nullptr;
  uint8_t* device_mask_lut_ = nullptr;
};

}  // namespace fastpix
