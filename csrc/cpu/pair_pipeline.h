// The fused per-pair pipeline: decode, split the halves (or read the separate label file),
// resize, crop, flip, normalize the photo and classify the mask, writing straight into the
// caller's batch buffers. One pair = one decode and one pass over the output pixels per half.
//
// Semantics are those of the PIL path in fastpix/data/loader.py: photos (and image targets)
// resized like PIL Image.resize(BICUBIC or BILINEAR), masks with PIL NEAREST (the source pixel
// is picked, then classified), then the crop window, then the horizontal flip.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cpu/image.h"
#include "cpu/palette_table.h"
#include "cpu/resample.h"
#include "cpu/thread_pool.h"

namespace fastpix {

enum class TargetKind {
  kClassesFromColors,  // the right half is a colour mask → class ids (PaletteTable)
  kClassesFromIds,     // a separate single-channel label-id file → class ids (id_lut)
  kImage,              // the right half is an image, resized and normalized like the photo
};

struct PairConfig {
  bool side_by_side = true;  // one file holding photo | target; else photo file + label file
  TargetKind target = TargetKind::kClassesFromColors;
  Filter filter = Filter::kBicubic;
  int load_height = 0;  // every half (or file) is resized to load_height × load_width ...
  int load_width = 0;
  bool require_load_size = false;  // ... or, when set, must already have that size
  int out_height = 0;  // the crop window written per pair
  int out_width = 0;
  int photo_elem_size = 4;         // bytes per photo/image element: 4 (float32) or 2 (float16)
  std::vector<uint8_t> photo_lut;  // 3 × 256 elements: channel value → normalized number
  int class_elem_size = 1;         // bytes per class id: 1 (uint8) or 8 (int64)
  std::array<uint8_t, 256> id_lut{};
  int64_t max_pixels = kDefaultMaxPixels;
  bool jpeg_draft = false;  // DCT-domain downscaling of JPEGs (Pillow's draft rule)
};

// One input file: a path, encoded bytes, or already-decoded pixels (rows packed, H×W×C).
struct Source {
  std::string path;
  const uint8_t* data = nullptr;
  size_t size = 0;
  const uint8_t* pixels = nullptr;
  int height = 0;
  int width = 0;
  int channels = 0;
};

struct PairJob {
  Source first;   // side-by-side file, or the photo
  Source second;  // the label-id file (separate files only)
  int top = 0;    // crop window corner, in resized pixels
  int left = 0;
  bool flip = false;
};

struct PairError {
  int index;    // position in the batch
  int source;   // 0: first file, 1: second file
  std::string message;
};

class PairDecoder {
 public:
  // `palette` is required for TargetKind::kClassesFromColors.
  PairDecoder(PairConfig config, std::unique_ptr<PaletteTable> palette, int num_threads);
  ~PairDecoder();

  const PairConfig& config() const { return config_; }
  int num_threads() const { return pool_.size(); }

  // Fills photo_out (N×3×H×W) and target_out (N×H×W class ids, or N×3×H×W for kImage) for
  // the N jobs. Returns the pairs that failed; their slots hold unspecified values. Throws
  // std::invalid_argument (before any work) for a crop window outside the load size.
  std::vector<PairError> decode(const std::vector<PairJob>& jobs, void* photo_out,
                                void* target_out);

  // Reads and decodes each source to RGB and discards it: the cost floor of decode().
  std::vector<PairError> decode_only(const std::vector<Source>& sources);

 private:
  struct Scratch;
  void decode_pair(const PairJob& job, Scratch& scratch, uint8_t* photo, uint8_t* target);

  PairConfig config_;
  std::unique_ptr<PaletteTable> palette_;
  ThreadPool pool_;
  std::vector<std::unique_ptr<Scratch>> scratch_;  // one per worker
};

}  // namespace fastpix
