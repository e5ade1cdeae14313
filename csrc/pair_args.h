// The keyword arguments of the Python pair decoders (fastpix._C.PairDecoder and
// fastpix._C_cuda.CudaPairDecoder) turned into a PairConfig and a PaletteRule, validated once
// for both modules. fastpix/data/loader.py builds the arguments (PairLoader._native_arguments).
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <cstring>
#include <optional>
#include <string>
#include <utility>

#include "cpu/pair_pipeline.h"
#include "cpu/palette_table.h"

namespace fastpix {

namespace py = pybind11;
using U8Array = py::array_t<uint8_t, py::array::c_style>;

inline std::array<uint8_t, 256> table_from(const U8Array& table, const char* name) {
  if (table.ndim() != 1 || table.shape(0) != 256) {
    throw py::value_error(std::string(name) + " must be a 256-entry uint8 table");
  }
  std::array<uint8_t, 256> out{};
  std::memcpy(out.data(), table.data(), 256);
  return out;
}

inline PairConfig pair_config_from(bool side_by_side, const std::string& target,
                                   const std::string& filter, std::pair<int, int> load_size,
                                   bool require_load_size, std::pair<int, int> out_size,
                                   const py::array& photo_lut, int class_itemsize,
                                   const U8Array& id_lut, int64_t max_pixels, bool jpeg_draft) {
  PairConfig cfg;
  cfg.side_by_side = side_by_side;
  if (target == "colors") cfg.target = TargetKind::kClassesFromColors;
  else if (target == "ids") cfg.target = TargetKind::kClassesFromIds;
  else if (target == "image") cfg.target = TargetKind::kImage;
  else throw py::value_error("target must be 'colors', 'ids' or 'image'");
  if (filter == "bicubic") cfg.filter = Filter::kBicubic;
  else if (filter == "bilinear") cfg.filter = Filter::kBilinear;
  else throw py::value_error("filter must be 'bicubic' or 'bilinear'");
  cfg.load_height = load_size.first;
  cfg.load_width = load_size.second;
  cfg.require_load_size = require_load_size;
  cfg.out_height = out_size.first;
  cfg.out_width = out_size.second;
  if (photo_lut.ndim() != 2 || photo_lut.shape(0) != 3 || photo_lut.shape(1) != 256 ||
      !(photo_lut.flags() & py::array::c_style)) {
    throw py::value_error("photo_lut must be a C-contiguous 3×256 array of 2- or 4-byte floats");
  }
  cfg.photo_elem_size = int(photo_lut.itemsize());
  const auto* bytes = static_cast<const uint8_t*>(photo_lut.data());
  cfg.photo_lut.assign(bytes, bytes + photo_lut.nbytes());
  cfg.class_elem_size = class_itemsize;
  cfg.id_lut = table_from(id_lut, "id_lut");
  cfg.max_pixels = max_pixels;
  cfg.jpeg_draft = jpeg_draft;
  return cfg;
}

inline std::optional<PaletteRule> palette_rule_from(const std::optional<U8Array>& palette,
                                                    const U8Array& mask_lut, int ignore_index,
                                                    double max_distance_sq) {
  if (!palette) return std::nullopt;
  const U8Array& p = *palette;
  if (p.ndim() != 2 || p.shape(1) != 3 || p.shape(0) < 1 || p.shape(0) > 255) {
    throw py::value_error("palette must be a K×3 uint8 array with 1 <= K <= 255");
  }
  if (ignore_index < 0 || ignore_index > 255) throw py::value_error("ignore_index must be 0..255");
  PaletteRule rule;
  rule.colors.resize(size_t(p.shape(0)));
  std::memcpy(rule.colors.data(), p.data(), rule.colors.size() * 3);
  rule.lut = table_from(mask_lut, "mask_lut");
  rule.ignore_index = ignore_index;
  rule.max_distance_sq = float(max_distance_sq);
  return rule;
}

}  // namespace fastpix
