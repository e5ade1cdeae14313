// fastpix._C: the CPU decoder for Python. Works on numpy buffers only (no libtorch); the GIL is
// released for every read and decode. Imported only by fastpix/_native.py.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <utility>

#include <jpeglib.h>
#include <png.h>

#include "cpu/decode_image.h"
#include "cpu/pair_pipeline.h"
#include "pair_args.h"

namespace py = pybind11;
using namespace fastpix;

namespace {

#define FASTPIX_STR2(x) #x
#define FASTPIX_STR(x) FASTPIX_STR2(x)

ColorMode parse_mode(const std::string& mode) {
  if (mode == "RGB") return ColorMode::kRGB;
  if (mode == "L") return ColorMode::kGrey;
  if (mode == "unchanged") return ColorMode::kUnchanged;
  throw py::value_error("mode must be 'RGB', 'L' or 'unchanged', got '" + mode + "'");
}

// A str is a path; bytes-like data is the encoded file; a uint8 H×W×C array is decoded pixels.
// `keep` holds whatever must outlive the native call.
Source to_source(const py::handle& obj, std::vector<py::object>& keep) {
  Source src;
  if (py::isinstance<py::str>(obj)) {
    src.path = obj.cast<std::string>();
  } else if (py::isinstance<py::array>(obj)) {
    auto arr = py::array_t<uint8_t, py::array::c_style | py::array::forcecast>::ensure(obj);
    if (!arr || arr.ndim() != 3) {
      throw py::value_error("decoded pixels must be a H×W×C uint8 array");
    }
    src.pixels = arr.data();
    src.height = int(arr.shape(0));
    src.width = int(arr.shape(1));
    src.channels = int(arr.shape(2));
    keep.push_back(std::move(arr));
  } else if (py::isinstance<py::buffer>(obj)) {
    py::buffer_info info = py::reinterpret_borrow<py::buffer>(obj).request();
    src.data = static_cast<const uint8_t*>(info.ptr);
    src.size = size_t(info.size) * size_t(info.itemsize);
    keep.push_back(py::reinterpret_borrow<py::object>(obj));
  } else {
    throw py::type_error("a source must be a path (str), encoded bytes or a uint8 H×W×C array");
  }
  return src;
}

py::array decode_image_py(const py::object& source, const std::string& mode, int64_t max_pixels) {
  std::vector<py::object> keep;
  const Source src = to_source(source, keep);
  if (src.pixels) throw py::value_error("decode_image needs a path or encoded bytes");
  DecodeOptions options;
  options.mode = parse_mode(mode);
  options.max_pixels = max_pixels;
  Image image;
  {
    py::gil_scoped_release release;
    std::vector<uint8_t> file;
    if (src.data) {
      decode_image(src.data, src.size, options, image);
    } else {
      read_file(src.path, file);
      decode_image(file.data(), file.size(), options, image);
    }
  }
  std::vector<py::ssize_t> shape{image.height, image.width};
  if (options.mode != ColorMode::kGrey && image.channels != 1) shape.push_back(image.channels);
  py::array_t<uint8_t> out(shape);
  std::memcpy(out.mutable_data(), image.pixels.data(), image.pixels.size());
  return std::move(out);
}

py::tuple probe_image_py(const py::object& source) {
  std::vector<py::object> keep;
  const Source src = to_source(source, keep);
  ImageInfo info;
  {
    py::gil_scoped_release release;
    std::vector<uint8_t> file;
    if (src.data) {
      info = probe_image(src.data, src.size);
    } else {
      read_file(src.path, file);
      info = probe_image(file.data(), file.size());
    }
  }
  return py::make_tuple(info.height, info.width, info.channels, info.format);
}

// Checks that `out` is a writeable C-contiguous array of `shape` with `itemsize`-byte items.
void check_output(const py::array& out, const char* name, std::vector<py::ssize_t> shape,
                  int itemsize) {
  const bool ok = out.writeable() && (out.flags() & py::array::c_style) &&
                  out.itemsize() == itemsize && out.ndim() == py::ssize_t(shape.size()) &&
                  std::equal(shape.begin(), shape.end(), out.shape());
  if (!ok) {
    std::string want;
    for (auto d : shape) want += (want.empty() ? "" : ", ") + std::to_string(d);
    throw py::value_error(std::string(name) + " must be a writeable C-contiguous array of shape (" +
                          want + ") with " + std::to_string(itemsize) + "-byte elements");
  }
}

std::unique_ptr<PairDecoder> make_pair_decoder(
    bool side_by_side, const std::string& target, const std::string& filter,
    std::pair<int, int> load_size, bool require_load_size, std::pair<int, int> out_size,
    const py::array& photo_lut, int class_itemsize, const std::optional<U8Array>& palette,
    const U8Array& mask_lut, int ignore_index, double max_distance_sq, const U8Array& id_lut,
    int64_t max_pixels, bool jpeg_draft, int num_threads) {
  PairConfig cfg = pair_config_from(side_by_side, target, filter, load_size, require_load_size,
                                    out_size, photo_lut, class_itemsize, id_lut, max_pixels,
                                    jpeg_draft);
  std::optional<PaletteRule> rule =
      palette_rule_from(palette, mask_lut, ignore_index, max_distance_sq);
  std::unique_ptr<PaletteTable> table;
  if (rule) table = std::make_unique<PaletteTable>(std::move(*rule));
  // std::invalid_argument from here reaches Python as ValueError.
  return std::make_unique<PairDecoder>(std::move(cfg), std::move(table), num_threads);
}

py::list errors_to_list(const std::vector<PairError>& errors) {
  py::list out;
  for (const PairError& e : errors) out.append(py::make_tuple(e.index, e.source, e.message));
  return out;
}

py::list decode_pairs(PairDecoder& decoder, const py::sequence& first,
                      const std::optional<py::sequence>& second, const std::vector<int>& tops,
                      const std::vector<int>& lefts, const std::vector<bool>& flips,
                      py::array photo_out, py::array target_out) {
  const PairConfig& cfg = decoder.config();
  const size_t n = first.size();
  if (tops.size() != n || lefts.size() != n || flips.size() != n ||
      (second && second->size() != n)) {
    throw py::value_error("first, second, tops, lefts and flips must have one entry per pair");
  }
  if (!cfg.side_by_side && !second) throw py::value_error("separate files need `second`");
  const py::ssize_t N = py::ssize_t(n), H = cfg.out_height, W = cfg.out_width;
  check_output(photo_out, "photo_out", {N, 3, H, W}, cfg.photo_elem_size);
  if (cfg.target == TargetKind::kImage) {
    check_output(target_out, "target_out", {N, 3, H, W}, cfg.photo_elem_size);
  } else {
    check_output(target_out, "target_out", {N, H, W}, cfg.class_elem_size);
  }
  std::vector<py::object> keep;
  std::vector<PairJob> jobs(n);
  for (size_t i = 0; i < n; ++i) {
    jobs[i].first = to_source(first[i], keep);
    if (second) jobs[i].second = to_source((*second)[i], keep);
    jobs[i].top = tops[i];
    jobs[i].left = lefts[i];
    jobs[i].flip = flips[i];
  }
  void* photo_ptr = photo_out.mutable_data();
  void* target_ptr = target_out.mutable_data();
  std::vector<PairError> errors;
  {
    py::gil_scoped_release release;
    errors = decoder.decode(jobs, photo_ptr, target_ptr);
  }
  return errors_to_list(errors);
}

py::list decode_only(PairDecoder& decoder, const py::sequence& sources) {
  std::vector<py::object> keep;
  std::vector<Source> srcs;
  for (const auto& s : sources) srcs.push_back(to_source(s, keep));
  std::vector<PairError> errors;
  {
    py::gil_scoped_release release;
    errors = decoder.decode_only(srcs);
  }
  return errors_to_list(errors);
}

}  // namespace

PYBIND11_MODULE(_C, m) {
  m.doc() = "fastpix native CPU decoder (libjpeg-turbo, libpng); see fastpix.io and PairLoader";
  py::register_exception<DecodeError>(m, "DecodeError", PyExc_ValueError);
#ifdef LIBJPEG_TURBO_VERSION
  m.attr("libjpeg_version") = "libjpeg-turbo " FASTPIX_STR(LIBJPEG_TURBO_VERSION);
#else
  m.attr("libjpeg_version") = "libjpeg " FASTPIX_STR(JPEG_LIB_VERSION);
#endif
  m.attr("libpng_version") = PNG_LIBPNG_VER_STRING;

  m.def("decode_image", &decode_image_py, py::arg("source"), py::arg("mode") = "RGB",
        py::arg("max_pixels") = kDefaultMaxPixels,
        "Decode a JPEG/PNG path or bytes to a uint8 H×W×C (H×W for mode 'L') array.");
  m.def("probe_image", &probe_image_py, py::arg("source"),
        "(height, width, channels, format) from the header of a JPEG/PNG path or bytes.");

  py::class_<PairDecoder>(m, "PairDecoder")
      .def(py::init(&make_pair_decoder), py::arg("side_by_side"), py::arg("target"),
           py::arg("filter"), py::arg("load_size"), py::arg("require_load_size"),
           py::arg("out_size"), py::arg("photo_lut"), py::arg("class_itemsize"),
           py::arg("palette"), py::arg("mask_lut"), py::arg("ignore_index"),
           py::arg("max_distance_sq"), py::arg("id_lut"), py::arg("max_pixels"),
           py::arg("jpeg_draft"), py::arg("num_threads"))
      .def_property_readonly("num_threads", &PairDecoder::num_threads)
      .def("decode", &decode_pairs, py::arg("first"), py::arg("second"), py::arg("tops"),
           py::arg("lefts"), py::arg("flips"), py::arg("photo_out"), py::arg("target_out"),
           "Decode a batch into the output arrays; returns [(index, source, reason)] failures.")
      .def("decode_only", &decode_only, py::arg("sources"),
           "Read and decode each source, discarding the pixels (the cost floor); returns "
           "[(index, source, reason)] failures.");
}
