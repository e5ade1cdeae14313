// nvJPEG batched decoding to interleaved RGB in device memory.
//
// The hardware JPEG engine (A100, H100, Jetson Orin) is used when the GPU has one and every
// file of the batch is a baseline single-scan JPEG it supports; otherwise nvJPEG's default
// (GPU-assisted hybrid) backend. Two buffer sets are used alternately (double buffering): the
// host reads and parses batch i + 1 while the GPU still decodes and processes batch i.
#pragma once

#include <cuda_runtime.h>
#include <nvjpeg.h>

#include <cstdint>
#include <string>
#include <vector>

namespace fastpix {

// One decoded image on the device: rows `pitch` bytes apart, 3 bytes per pixel.
struct DeviceImage {
  const uint8_t* pixels = nullptr;
  int width = 0;
  int height = 0;
  int pitch = 0;
};

class JpegBatchDecoder {
 public:
  explicit JpegBatchDecoder(int device);
  ~JpegBatchDecoder();
  JpegBatchDecoder(const JpegBatchDecoder&) = delete;
  JpegBatchDecoder& operator=(const JpegBatchDecoder&) = delete;

  bool has_hardware() const { return hardware_ != nullptr; }

  // The buffer set the next decode() uses (0 or 1); callers double-buffer their own staging
  // memory by it.
  int slot() const { return current_; }

  // Reads the sizes of `count` encoded files (host memory); returns "" or why one cannot be
  // decoded on the GPU (e.g. CMYK, 12-bit, corrupt header) with its index in `bad`.
  std::string inspect(const std::vector<const uint8_t*>& data, const std::vector<size_t>& sizes,
                      std::vector<DeviceImage>& images, int& bad);

  // Decodes the batch `inspect` described into the next buffer set, on `stream`. Returns "" on
  // success, else why nvJPEG failed (the caller then decodes the batch on the CPU). The images
  // stay valid until the work enqueued on `stream` after this call is done and `finish` has
  // been called.
  std::string decode(const std::vector<const uint8_t*>& data, const std::vector<size_t>& sizes,
                     std::vector<DeviceImage>& images, cudaStream_t stream);

  // Marks the end of the work that reads the current buffer set (enqueue after the kernel).
  void finish(cudaStream_t stream);

 private:
  struct Slot {
    nvjpegJpegState_t hardware_state = nullptr;
    nvjpegJpegState_t default_state = nullptr;
    int hardware_batch = -1;  // batch size the states were initialized for
    int default_batch = -1;
    uint8_t* buffer = nullptr;
    size_t capacity = 0;
    cudaEvent_t done = nullptr;
    bool in_flight = false;
  };

  bool hardware_supports(const std::vector<const uint8_t*>& data,
                         const std::vector<size_t>& sizes);
  std::string run(nvjpegHandle_t handle, nvjpegJpegState_t state, int& initialized_batch,
                  const std::vector<const uint8_t*>& data, const std::vector<size_t>& sizes,
                  std::vector<nvjpegImage_t>& destinations, cudaStream_t stream);

  int device_;
  nvjpegHandle_t hardware_ = nullptr;
  nvjpegHandle_t default_ = nullptr;
  nvjpegJpegStream_t parsed_ = nullptr;  // header parsing for the hardware support check
  Slot slots_[2];
  int current_ = 0;
};

}  // namespace fastpix
