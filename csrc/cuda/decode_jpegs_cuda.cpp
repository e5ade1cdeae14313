#include "cuda/decode_jpegs_cuda.h"

#include <stdexcept>

namespace fastpix {
namespace {

const char* status_name(nvjpegStatus_t status) {
  switch (status) {
    case NVJPEG_STATUS_SUCCESS: return "success";
    case NVJPEG_STATUS_NOT_INITIALIZED: return "not initialized";
    case NVJPEG_STATUS_INVALID_PARAMETER: return "invalid parameter";
    case NVJPEG_STATUS_BAD_JPEG: return "bad JPEG";
    case NVJPEG_STATUS_JPEG_NOT_SUPPORTED: return "JPEG not supported";
    case NVJPEG_STATUS_ALLOCATOR_FAILURE: return "allocator failure";
    case NVJPEG_STATUS_EXECUTION_FAILED: return "execution failed";
    case NVJPEG_STATUS_ARCH_MISMATCH: return "architecture mismatch";
    case NVJPEG_STATUS_INTERNAL_ERROR: return "internal error";
    case NVJPEG_STATUS_IMPLEMENTATION_NOT_SUPPORTED: return "implementation not supported";
    case NVJPEG_STATUS_INCOMPLETE_BITSTREAM: return "incomplete bitstream";
    default: return "unknown nvJPEG status";
  }
}

void check_cuda(cudaError_t error, const char* what) {
  if (error != cudaSuccess) {
    throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(error));
  }
}

void check_nvjpeg(nvjpegStatus_t status, const char* what) {
  if (status != NVJPEG_STATUS_SUCCESS) {
    throw std::runtime_error(std::string(what) + ": " + status_name(status));
  }
}

// Makes `device` current for a scope and restores the caller's device afterwards.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device) {
    check_cuda(cudaGetDevice(&previous_), "cudaGetDevice");
    if (previous_ != device) check_cuda(cudaSetDevice(device), "cudaSetDevice");
  }
  ~DeviceGuard() { cudaSetDevice(previous_); }

 private:
  int previous_ = 0;
};

}  // namespace

JpegBatchDecoder::JpegBatchDecoder(int device) : device_(device) {
  DeviceGuard guard(device_);
  // The hardware engine exists on A100/H100/Orin-class GPUs only; elsewhere creation fails.
  if (nvjpegCreateEx(NVJPEG_BACKEND_HARDWARE, nullptr, nullptr, 0, &hardware_) !=
      NVJPEG_STATUS_SUCCESS) {
    hardware_ = nullptr;
  }
  check_nvjpeg(nvjpegCreateEx(NVJPEG_BACKEND_DEFAULT, nullptr, nullptr, 0, &default_),
               "nvjpegCreateEx");
  check_nvjpeg(nvjpegJpegStreamCreate(hardware_ ? hardware_ : default_, &parsed_),
               "nvjpegJpegStreamCreate");
  for (Slot& slot : slots_) {
    if (hardware_) {
      check_nvjpeg(nvjpegJpegStateCreate(hardware_, &slot.hardware_state),
                   "nvjpegJpegStateCreate");
    }
    check_nvjpeg(nvjpegJpegStateCreate(default_, &slot.default_state), "nvjpegJpegStateCreate");
    check_cuda(cudaEventCreateWithFlags(&slot.done, cudaEventDisableTiming), "cudaEventCreate");
  }
}

JpegBatchDecoder::~JpegBatchDecoder() {
  cudaSetDevice(device_);
  for (Slot& slot : slots_) {
    if (slot.done) {
      cudaEventSynchronize(slot.done);
      cudaEventDestroy(slot.done);
    }
    if (slot.hardware_state) nvjpegJpegStateDestroy(slot.hardware_state);
    if (slot.default_state) nvjpegJpegStateDestroy(slot.default_state);
    cudaFree(slot.buffer);
  }
  if (parsed_) nvjpegJpegStreamDestroy(parsed_);
  if (hardware_) nvjpegDestroy(hardware_);
  if (default_) nvjpegDestroy(default_);
}

std::string JpegBatchDecoder::inspect(const std::vector<const uint8_t*>& data,
                                      const std::vector<size_t>& sizes,
                                      std::vector<DeviceImage>& images, int& bad) {
  images.assign(data.size(), DeviceImage{});
  for (size_t i = 0; i < data.size(); ++i) {
    int components = 0;
    nvjpegChromaSubsampling_t subsampling;
    int widths[NVJPEG_MAX_COMPONENT] = {};
    int heights[NVJPEG_MAX_COMPONENT] = {};
    const nvjpegStatus_t status = nvjpegGetImageInfo(default_, data[i], sizes[i], &components,
                                                     &subsampling, widths, heights);
    bad = int(i);
    if (status != NVJPEG_STATUS_SUCCESS) return std::string("nvJPEG: ") + status_name(status);
    if (components != 1 && components != 3) {
      return "nvJPEG decodes 1- and 3-component JPEGs, this one has " +
             std::to_string(components);
    }
    if (subsampling == NVJPEG_CSS_UNKNOWN) return "nvJPEG: unknown chroma subsampling";
    images[i].width = widths[0];
    images[i].height = heights[0];
    images[i].pitch = widths[0] * 3;
  }
  bad = -1;
  return "";
}

bool JpegBatchDecoder::hardware_supports(const std::vector<const uint8_t*>& data,
                                         const std::vector<size_t>& sizes) {
  for (size_t i = 0; i < data.size(); ++i) {
    if (nvjpegJpegStreamParse(hardware_, data[i], sizes[i], 0, 0, parsed_) !=
        NVJPEG_STATUS_SUCCESS) {
      return false;
    }
    int unsupported = 1;  // nvJPEG reports 0 for "supported"
    if (nvjpegDecodeBatchedSupported(hardware_, parsed_, &unsupported) !=
            NVJPEG_STATUS_SUCCESS ||
        unsupported != 0) {
      return false;
    }
  }
  return true;
}

std::string JpegBatchDecoder::run(nvjpegHandle_t handle, nvjpegJpegState_t state,
                                  int& initialized_batch, const std::vector<const uint8_t*>& data,
                                  const std::vector<size_t>& sizes,
                                  std::vector<nvjpegImage_t>& destinations,
                                  cudaStream_t stream) {
  const int n = int(data.size());
  if (initialized_batch != n) {
    const nvjpegStatus_t status =
        nvjpegDecodeBatchedInitialize(handle, state, n, 1, NVJPEG_OUTPUT_RGBI);
    if (status != NVJPEG_STATUS_SUCCESS) {
      initialized_batch = -1;
      return std::string("nvjpegDecodeBatchedInitialize: ") + status_name(status);
    }
    initialized_batch = n;
  }
  const nvjpegStatus_t status =
      nvjpegDecodeBatched(handle, state, data.data(), sizes.data(), destinations.data(), stream);
  if (status != NVJPEG_STATUS_SUCCESS) {
    initialized_batch = -1;  // a failed batch must be re-initialized
    return std::string("nvjpegDecodeBatched: ") + status_name(status);
  }
  return "";
}

std::string JpegBatchDecoder::decode(const std::vector<const uint8_t*>& data,
                                     const std::vector<size_t>& sizes,
                                     std::vector<DeviceImage>& images, cudaStream_t stream) {
  DeviceGuard guard(device_);
  Slot& slot = slots_[current_];
  if (slot.in_flight) {  // the kernel of two batches ago may still read this buffer set
    check_cuda(cudaEventSynchronize(slot.done), "cudaEventSynchronize");
    slot.in_flight = false;
  }
  size_t total = 0;
  for (const DeviceImage& image : images) total += size_t(image.pitch) * image.height;
  if (total > slot.capacity) {
    check_cuda(cudaFree(slot.buffer), "cudaFree");
    slot.buffer = nullptr;
    slot.capacity = 0;
    const size_t capacity = total + total / 4;  // room for slightly larger batches
    check_cuda(cudaMalloc(&slot.buffer, capacity), "cudaMalloc");
    slot.capacity = capacity;
  }
  std::vector<nvjpegImage_t> destinations(images.size());
  size_t offset = 0;
  for (size_t i = 0; i < images.size(); ++i) {
    images[i].pixels = slot.buffer + offset;
    destinations[i] = nvjpegImage_t{};
    destinations[i].channel[0] = slot.buffer + offset;
    destinations[i].pitch[0] = size_t(images[i].pitch);
    offset += size_t(images[i].pitch) * images[i].height;
  }
  std::string error = "no hardware JPEG engine";
  if (hardware_ && hardware_supports(data, sizes)) {
    error = run(hardware_, slot.hardware_state, slot.hardware_batch, data, sizes, destinations,
                stream);
  }
  if (!error.empty()) {
    error = run(default_, slot.default_state, slot.default_batch, data, sizes, destinations,
                stream);
  }
  return error;
}

void JpegBatchDecoder::finish(cudaStream_t stream) {
  DeviceGuard guard(device_);
  Slot& slot = slots_[current_];
  check_cuda(cudaEventRecord(slot.done, stream), "cudaEventRecord");
  slot.in_flight = true;
  current_ ^= 1;
}

}  // namespace fastpix
