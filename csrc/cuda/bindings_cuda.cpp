// fastpix._C_cuda: the nvJPEG pair decoder for Python. Takes raw device pointers
// (tensor.data_ptr()) and a CUDA stream handle (torch.cuda.current_stream().cuda_stream); no
// libtorch. Imported only by fastpix/_native.py, when a CUDA loader asks for it.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <optional>
#include <string>
#include <utility>

#include "cuda/pair_pipeline_cuda.h"

namespace py = pybind11;
using namespace fastpix;

namespace {

std::unique_ptr<CudaPairDecoder> make_decoder(
    int device, const std::string& target, const std::string& filter,
    std::pair<int, int> load_size, bool require_load_size, std::pair<int, int> out_size,
    const py::array& photo_lut, int class_itemsize,
    const std::optional<py::array_t<uint8_t, py::array::c_style>>& palette,
    const py::array_t<uint8_t, py::array::c_style>& mask_lut, int ignore_index,
    double max_distance_sq, int64_t max_pixels, int num_threads) {
  CudaPairConfig cfg;
  if (target == "image") cfg.target_image = true;
  else if (target != "colors") throw py::value_error("target must be 'colors' or 'image'");
  if (filter == "bicubic") cfg.filter = Filter::kBicubic;
  else if (filter == "bilinear") cfg.filter = Filter::kBilinear;
  else throw py::value_error("filter must be 'bicubic' or 'bilinear'");
  cfg.load_height = load_size.first;
  cfg.load_width = load_size.second;
  cfg.require_load_size = require_load_size;
  cfg.out_height = out_size.first;
  cfg.out_width = out_size.second;
  if (cfg.out_height < 1 || cfg.out_width < 1 || cfg.out_height > cfg.load_height ||
      cfg.out_width > cfg.load_width) {
    throw py::value_error("need 1 <= out size <= load size");
  }
  if (photo_lut.ndim() != 2 || photo_lut.shape(0) != 3 || photo_lut.shape(1) != 256 ||
      !(photo_lut.flags() & py::array::c_style) ||
      (photo_lut.itemsize() != 2 && photo_lut.itemsize() != 4)) {
    throw py::value_error("photo_lut must be a C-contiguous 3×256 array of 2- or 4-byte floats");
  }
  cfg.photo_elem_size = int(photo_lut.itemsize());
  const auto* bytes = static_cast<const uint8_t*>(photo_lut.data());
  cfg.photo_lut.assign(bytes, bytes + photo_lut.nbytes());
  if (class_itemsize != 1 && class_itemsize != 8) {
    throw py::value_error("class ids must be 1 (uint8) or 8 (int64) bytes");
  }
  cfg.class_elem_size = class_itemsize;
  if (palette) {
    if (palette->ndim() != 2 || palette->shape(1) != 3 || palette->shape(0) < 1 ||
        palette->shape(0) > 255) {
      throw py::value_error("palette must be a K×3 uint8 array with 1 <= K <= 255");
    }
    const auto* p = palette->data();
    cfg.palette.assign(p, p + palette->size());
  }
  if (mask_lut.ndim() != 1 || mask_lut.shape(0) != 256) {
    throw py::value_error("mask_lut must be a 256-entry uint8 table");
  }
  std::memcpy(cfg.mask_lut.data(), mask_lut.data(), 256);
  cfg.ignore_index = ignore_index;
  cfg.max_distance_sq = float(max_distance_sq);
  cfg.max_pixels = max_pixels;
  return std::make_unique<CudaPairDecoder>(std::move(cfg), device, num_threads);
}

// Returns "" when the batch was enqueued, else why it must be decoded on the CPU.
std::string decode(CudaPairDecoder& decoder, const std::vector<py::object>& files,
                   const std::vector<int>& tops, const std::vector<int>& lefts,
                   const std::vector<bool>& flips, uintptr_t photo_out, uintptr_t target_out,
                   uintptr_t stream) {
  const size_t n = files.size();
  if (tops.size() != n || lefts.size() != n || flips.size() != n) {
    throw py::value_error("files, tops, lefts and flips must have one entry per pair");
  }
  std::vector<Source> sources(n);
  for (size_t i = 0; i < n; ++i) {
    if (py::isinstance<py::str>(files[i])) {
      sources[i].path = files[i].cast<std::string>();
    } else if (py::isinstance<py::bytes>(files[i])) {
      char* data = nullptr;
      py::ssize_t size = 0;
      PyBytes_AsStringAndSize(files[i].ptr(), &data, &size);
      sources[i].data = reinterpret_cast<const uint8_t*>(data);
      sources[i].size = size_t(size);
    } else {
      throw py::type_error("files must be paths (str) or encoded bytes");
    }
  }
  py::gil_scoped_release release;
  return decoder.decode(sources, tops, lefts, flips, reinterpret_cast<void*>(photo_out),
                        reinterpret_cast<void*>(target_out),
                        reinterpret_cast<cudaStream_t>(stream));
}

}  // namespace

PYBIND11_MODULE(_C_cuda, m) {
  m.doc() = "fastpix nvJPEG pair decoder with a fused CUDA kernel; see fastpix.data.PairLoader";
  m.attr("nvjpeg_version") = std::to_string(NVJPEG_VER_MAJOR) + "." +
                             std::to_string(NVJPEG_VER_MINOR) + "." +
                             std::to_string(NVJPEG_VER_PATCH);
  py::class_<CudaPairDecoder>(m, "CudaPairDecoder")
      .def(py::init(&make_decoder), py::arg("device"), py::arg("target"), py::arg("filter"),
           py::arg("load_size"), py::arg("require_load_size"), py::arg("out_size"),
           py::arg("photo_lut"), py::arg("class_itemsize"), py::arg("palette"),
           py::arg("mask_lut"), py::arg("ignore_index"), py::arg("max_distance_sq"),
           py::arg("max_pixels"), py::arg("num_threads"))
      .def_property_readonly("has_hardware_decoder", &CudaPairDecoder::has_hardware_decoder)
      .def("decode", &decode, py::arg("files"), py::arg("tops"), py::arg("lefts"),
           py::arg("flips"), py::arg("photo_out"), py::arg("target_out"), py::arg("stream"),
           "Enqueue a batch on `stream`; returns '' or why it must be decoded on the CPU.");
}
