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
#include "pair_args.h"

namespace py = pybind11;
using namespace fastpix;

namespace {

// The same arguments as fastpix._C.PairDecoder, plus the device.
std::unique_ptr<CudaPairDecoder> make_decoder(
    int device, bool side_by_side, const std::string& target, const std::string& filter,
    std::pair<int, int> load_size, bool require_load_size, std::pair<int, int> out_size,
    const py::array& photo_lut, int class_itemsize, const std::optional<U8Array>& palette,
    const U8Array& mask_lut, int ignore_index, double max_distance_sq, const U8Array& id_lut,
    int64_t max_pixels, bool jpeg_draft, int num_threads) {
  PairConfig cfg = pair_config_from(side_by_side, target, filter, load_size, require_load_size,
                                    out_size, photo_lut, class_itemsize, id_lut, max_pixels,
                                    jpeg_draft);
  // std::invalid_argument from here reaches Python as ValueError.
  return std::make_unique<CudaPairDecoder>(
      std::move(cfg), palette_rule_from(palette, mask_lut, ignore_index, max_distance_sq),
      device, num_threads);
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
      .def(py::init(&make_decoder), py::arg("device"), py::arg("side_by_side"),
           py::arg("target"), py::arg("filter"), py::arg("load_size"),
           py::arg("require_load_size"), py::arg("out_size"), py::arg("photo_lut"),
           py::arg("class_itemsize"), py::arg("palette"), py::arg("mask_lut"),
           py::arg("ignore_index"), py::arg("max_distance_sq"), py::arg("id_lut"),
           py::arg("max_pixels"), py::arg("jpeg_draft"), py::arg("num_threads"))
      .def_property_readonly("has_hardware_decoder", &CudaPairDecoder::has_hardware_decoder)
      .def("decode", &decode, py::arg("files"), py::arg("tops"), py::arg("lefts"),
           py::arg("flips"), py::arg("photo_out"), py::arg("target_out"), py::arg("stream"),
           "Enqueue a batch on `stream`; returns '' or why it must be decoded on the CPU.");
}
