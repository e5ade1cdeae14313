#include "cuda/pair_pipeline_cuda.h"

#include <cstring>
#include <map>
#include <stdexcept>
#include <utility>

#include "cpu/decode_image.h"

namespace fastpix {
namespace {

void check_cuda(cudaError_t error, const char* what) {
  if (error != cudaSuccess) {
    throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(error));
  }
}

// The resampling tables of every distinct half size in a batch, packed in one int32 blob.
class TableBlob {
 public:
  explicit TableBlob(const PairConfig& config) : config_(config) {}

  // Fills the table fields of `p` for halves of width × height.
  void describe(int width, int height, PairParams& p) {
    const auto key = std::make_pair(width, height);
    auto found = known_.find(key);
    if (found == known_.end()) {
      PairParams tables{};
      tables.horizontal = add_axis(width, config_.load_width);
      tables.vertical = add_axis(height, config_.load_height);
      tables.nearest_x = add_nearest(width, config_.load_width);
      tables.nearest_y = add_nearest(height, config_.load_height);
      tables.vertical_first = width != config_.load_width &&
                              pillow_vertical_first(width, height, config_.load_width,
                                                    config_.load_height);
      found = known_.emplace(key, tables).first;
    }
    p.horizontal = found->second.horizontal;
    p.vertical = found->second.vertical;
    p.nearest_x = found->second.nearest_x;
    p.nearest_y = found->second.nearest_y;
    p.vertical_first = found->second.vertical_first;
  }

  const std::vector<int32_t>& data() const { return blob_; }

 private:
  int append(const int32_t* values, size_t count) {
    const int offset = int(blob_.size());
    blob_.insert(blob_.end(), values, values + count);
    return offset;
  }

  // Pillow's weights, or one tap of weight 1.0 when the size does not change (exact).
  AxisTables add_axis(int in_size, int out_size) {
    ResampleAxis axis;
    if (in_size != out_size) {
      compute_resample_axis(in_size, out_size, config_.filter, axis);
    } else {
      axis.taps = 1;
      axis.first.resize(out_size);
      for (int i = 0; i < out_size; ++i) axis.first[i] = i;
      axis.count.assign(out_size, 1);
      axis.weights.assign(out_size, int32_t(1) << kPrecisionBits);
    }
    AxisTables t;
    t.first = append(axis.first.data(), axis.first.size());
    t.count = append(axis.count.data(), axis.count.size());
    t.weights = append(axis.weights.data(), axis.weights.size());
    t.taps = axis.taps;
    return t;
  }

  int add_nearest(int in_size, int out_size) {
    std::vector<int> index;
    compute_nearest_axis(in_size, out_size, index);
    return append(index.data(), index.size());
  }

  const PairConfig& config_;
  std::map<std::pair<int, int>, PairParams> known_;
  std::vector<int32_t> blob_;
};

std::string size_text(int width, int height) {
  return std::to_string(width) + "x" + std::to_string(height);
}

}  // namespace

CudaPairDecoder::CudaPairDecoder(PairConfig config, std::optional<PaletteRule> palette,
                                 int device, int num_threads)
    : config_(std::move(config)), device_(device), pool_(num_threads) {
  if (!config_.side_by_side || config_.target == TargetKind::kClassesFromIds) {
    throw std::invalid_argument("the CUDA decoder takes side-by-side files (kaggle, aligned)");
  }
  if (config_.jpeg_draft) throw std::invalid_argument("the CUDA decoder has no draft mode");
  if (config_.target == TargetKind::kClassesFromColors && !palette) {
    throw std::invalid_argument("class ids from mask colours need a palette");
  }
  if (palette) palette_ = std::move(*palette);
  if (config_.photo_lut.size() != size_t(3 * 256 * config_.photo_elem_size) ||
      (config_.photo_elem_size != 2 && config_.photo_elem_size != 4) ||
      (config_.class_elem_size != 1 && config_.class_elem_size != 8) ||
      config_.out_height < 1 || config_.out_width < 1 ||
      config_.out_height > config_.load_height || config_.out_width > config_.load_width) {
    throw std::invalid_argument("bad output sizes or element sizes");
  }
  jpeg_ = std::make_unique<JpegBatchDecoder>(device_);
  check_cuda(cudaSetDevice(device_), "cudaSetDevice");
  check_cuda(cudaMalloc(&device_lut_, config_.photo_lut.size()), "cudaMalloc");
  check_cuda(cudaMemcpy(device_lut_, config_.photo_lut.data(), config_.photo_lut.size(),
                        cudaMemcpyHostToDevice),
             "cudaMemcpy");
  if (config_.target == TargetKind::kClassesFromColors) {
    const size_t bytes = palette_.colors.size() * 3;
    check_cuda(cudaMalloc(&device_palette_, bytes), "cudaMalloc");
    check_cuda(cudaMemcpy(device_palette_, palette_.colors.data(), bytes,
                          cudaMemcpyHostToDevice),
               "cudaMemcpy");
    check_cuda(cudaMalloc(&device_mask_lut_, 256), "cudaMalloc");
    check_cuda(cudaMemcpy(device_mask_lut_, palette_.lut.data(), 256, cudaMemcpyHostToDevice),
               "cudaMemcpy");
  }
}

CudaPairDecoder::~CudaPairDecoder() {
  cudaSetDevice(device_);
  cudaDeviceSynchronize();  // staging buffers may still be read by queued copies
  for (Slot& slot : slots_) {
    cudaFreeHost(slot.host_staging);
    cudaFree(slot.device_staging);
  }
  cudaFree(device_lut_);
  cudaFree(device_palette_);
  cudaFree(device_mask_lut_);
}

void CudaPairDecoder::ensure_staging(Slot& slot, size_t elements) {
  if (elements <= slot.capacity) return;
  cudaFreeHost(slot.host_staging);
  cudaFree(slot.device_staging);
  slot.host_staging = nullptr;
  slot.device_staging = nullptr;
  slot.capacity = 0;
  const size_t capacity = elements + elements / 2;
  check_cuda(cudaHostAlloc(reinterpret_cast<void**>(&slot.host_staging),
                           capacity * sizeof(int32_t), cudaHostAllocDefault),
             "cudaHostAlloc");
  check_cuda(cudaMalloc(reinterpret_cast<void**>(&slot.device_staging),
                        capacity * sizeof(int32_t)),
             "cudaMalloc");
  slot.capacity = capacity;
}

std::string CudaPairDecoder::read_files(const std::vector<Source>& files, Slot& slot,
                                        std::vector<const uint8_t*>& data,
                                        std::vector<size_t>& sizes) {
  const size_t n = files.size();
  slot.files.resize(n);
  data.assign(n, nullptr);
  sizes.assign(n, 0);
  std::vector<std::string> errors(n);
  pool_.parallel_for(int(n), [&](int, int i) {
    const Source& src = files[i];
    if (src.data) {
      data[i] = src.data;
      sizes[i] = src.size;
      return;
    }
    try {
      read_file(src.path, slot.files[i]);
      data[i] = slot.files[i].data();
      sizes[i] = slot.files[i].size();
    } catch (const DecodeError& e) {
      errors[i] = e.what();
    }
  });
  for (size_t i = 0; i < n; ++i) {
    if (!errors[i].empty()) return "file " + std::to_string(i) + ": " + errors[i];
    if (sizes[i] == 0) return "file " + std::to_string(i) + " is empty";
  }
  return "";
}

std::string CudaPairDecoder::decode(const std::vector<Source>& files,
                                    const std::vector<int>& tops, const std::vector<int>& lefts,
                                    const std::vector<bool>& flips, void* photo_out,
                                    void* target_out, cudaStream_t stream) {
  std::lock_guard<std::mutex> lock(mutex_);
  const int n = int(files.size());
  if (n == 0) return "";
  check_cuda(cudaSetDevice(device_), "cudaSetDevice");
  const PairConfig& cfg = config_;
  for (int i = 0; i < n; ++i) {
    if (tops[i] < 0 || lefts[i] < 0 || tops[i] + cfg.out_height > cfg.load_height ||
        lefts[i] + cfg.out_width > cfg.load_width) {
      throw std::invalid_argument("crop window outside the load size");
    }
  }
  Slot& slot = slots_[jpeg_->slot()];
  std::vector<const uint8_t*> data;
  std::vector<size_t> sizes;
  std::string reason = read_files(files, slot, data, sizes);
  if (!reason.empty()) return reason;

  std::vector<DeviceImage> images;
  int bad = -1;
  reason = jpeg_->inspect(data, sizes, images, bad);
  if (!reason.empty()) return "file " + std::to_string(bad) + ": " + reason;
  for (int i = 0; i < n; ++i) {
    const DeviceImage& im = images[i];
    const std::string limit = pixel_limit_error(im.width, im.height, cfg.max_pixels);
    if (!limit.empty()) return "file " + std::to_string(i) + ": " + limit;
    if (im.width % 2) return "file " + std::to_string(i) + " has an odd width";
    if (cfg.require_load_size &&
        (im.width / 2 != cfg.load_width || im.height != cfg.load_height)) {
      return "file " + std::to_string(i) + " has halves of " +
             size_text(im.width / 2, im.height) + ", not " +
             size_text(cfg.load_width, cfg.load_height);
    }
  }

  reason = jpeg_->decode(data, sizes, images, stream);
  if (!reason.empty()) return reason;

  // Pair parameters and resampling tables, staged in pinned memory and copied with the batch.
  TableBlob tables(cfg);
  std::vector<PairParams> params(n);
  for (int i = 0; i < n; ++i) {
    PairParams& p = params[i];
    p = PairParams{};
    p.image = images[i].pixels;
    p.pitch = images[i].pitch;
    p.half_width = images[i].width / 2;
    p.height = images[i].height;
    p.top = tops[i];
    p.left = lefts[i];
    p.flip = flips[i] ? 1 : 0;
    tables.describe(p.half_width, p.height, p);
  }
  // PairParams holds a pointer: keep the tables that follow it 16-byte aligned.
  const size_t params_elements = (n * sizeof(PairParams) + 15) / 16 * 4;
  const size_t total = params_elements + tables.data().size();
  ensure_staging(slot, total);
  std::memcpy(slot.host_staging, params.data(), n * sizeof(PairParams));
  std::memcpy(slot.host_staging + params_elements, tables.data().data(),
              tables.data().size() * sizeof(int32_t));
  check_cuda(cudaMemcpyAsync(slot.device_staging, slot.host_staging, total * sizeof(int32_t),
                             cudaMemcpyHostToDevice, stream),
             "cudaMemcpyAsync");

  KernelArgs args{};
  args.pairs = reinterpret_cast<const PairParams*>(slot.device_staging);
  args.tables = slot.device_staging + params_elements;
  args.lut = device_lut_;
  args.palette = device_palette_;
  args.palette_size = int(palette_.colors.size());
  args.mask_lut = device_mask_lut_;
  args.ignore_index = palette_.ignore_index;
  args.max_distance_sq = palette_.max_distance_sq;
  args.target_mode = cfg.target == TargetKind::kImage ? kTargetImage : kTargetClasses;
  args.photo_out = photo_out;
  args.target_out = target_out;
  args.out_height = cfg.out_height;
  args.out_width = cfg.out_width;
  check_cuda(launch_pair_kernel(args, n, cfg.photo_elem_size, cfg.class_elem_size, stream),
             "pair kernel launch");
  jpeg_->finish(stream);
  return "";
}

}  // namespace fastpix
