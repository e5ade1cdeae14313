"""Builds fastpix's native modules with CMake (CMakeLists.txt) during ``pip install``.

Everything else about the package is in pyproject.toml. Environment switches:

    FASTPIX_NATIVE=0              skip the native build (fastpix falls back to PIL, with a warning)
    FASTPIX_CUDA=auto|on|off      fastpix._C_cuda: auto builds it when nvcc and nvJPEG are found,
                                  on fails with the reason when they are not (default auto)
    FASTPIX_CUDA_ARCHS="80;90"    CMAKE_CUDA_ARCHITECTURES (default: sm_75..sm_90 + PTX)
    FASTPIX_ASAN=1                AddressSanitizer + UBSan build (see benchmarks/fuzz_decode.py)
    FASTPIX_BUILD_JOBS=2          parallel compile jobs
    CUDACXX=/path/to/nvcc         the CUDA compiler (else PATH, $CUDA_HOME, /usr/local/cuda)

nvJPEG is looked for in the CUDA toolkit, then in the ``nvidia-nvjpeg`` wheel
(``nvidia/cu13/{include,lib}`` in site-packages).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent


class CMakeExtension(Extension):
    """A module built by the CMake target of the same short name."""

    def __init__(self, name: str) -> None:
        super().__init__(name, sources=[])
        self.target = name.rsplit(".", 1)[-1]


def _env_flag(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = os.environ.get(name, default).strip().lower()
    if value not in choices:
        sys.exit(f"{name}={value!r}: expected one of {', '.join(choices)}")
    return value


def find_nvcc() -> Path | None:
    candidates = [os.environ.get("CUDACXX"), shutil.which("nvcc")]
    for home in (os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"), "/usr/local/cuda"):
        if home:
            candidates.append(os.path.join(home, "bin", "nvcc"))
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return Path(candidate).resolve()
    return None


def find_nvjpeg(nvcc: Path) -> tuple[Path, Path] | None:
    """(folder holding nvjpeg.h, libnvjpeg.so*) from the toolkit, else the nvidia-nvjpeg wheel."""
    toolkit = nvcc.parent.parent
    places = [(toolkit / "include", toolkit / "lib64")]
    places += [(t / "include", t / "lib") for t in sorted((toolkit / "targets").glob("*"))]
    try:
        import nvidia  # namespace package of the NVIDIA wheels

        places += [
            (Path(p) / "cu13" / "include", Path(p) / "cu13" / "lib") for p in nvidia.__path__
        ]
    except ImportError:
        pass
    for include, lib in places:
        libraries = sorted(lib.glob("libnvjpeg.so*")) if lib.is_dir() else []
        if (include / "nvjpeg.h").is_file() and libraries:
            return include, libraries[0]
    return None


def cuda_build_settings() -> list[str] | None:
    """CMake arguments for the CUDA module, or None when it is not built."""
    mode = _env_flag("FASTPIX_CUDA", "auto", ("auto", "on", "off"))
    if mode == "off":
        return None
    nvcc = find_nvcc()
    nvjpeg = find_nvjpeg(nvcc) if nvcc else None
    if nvjpeg is None:
        missing = "nvcc" if nvcc is None else "nvJPEG (pip install nvidia-nvjpeg)"
        if mode == "on":
            sys.exit(f"FASTPIX_CUDA=on but {missing} was not found")
        print(f"fastpix: building without CUDA ({missing} not found)", file=sys.stderr)
        return None
    args = [
        f"-DCMAKE_CUDA_COMPILER={nvcc}",
        f"-DFASTPIX_NVJPEG_INCLUDE_DIR={nvjpeg[0]}",
        f"-DFASTPIX_NVJPEG_LIBRARY={nvjpeg[1]}",
    ]
    archs = os.environ.get("FASTPIX_CUDA_ARCHS", "").strip()
    if archs:
        args.append(f"-DCMAKE_CUDA_ARCHITECTURES={archs}")
    return args


def _tool(name: str) -> str | None:
    """A build tool from this Python's environment (the cmake/ninja wheels), else PATH."""
    beside = Path(sys.executable).parent / name
    if beside.is_file():
        return str(beside)
    return shutil.which(name)


class CMakeBuild(build_ext):
    """Configures the CMake project once, then builds each extension's target into place."""

    def run(self) -> None:
        self._configured_for: Path | None = None
        super().run()

    @staticmethod
    def _cmake() -> str:
        cmake = _tool("cmake")
        if cmake is None:
            sys.exit("fastpix: cmake not found (pip install 'cmake>=3.24' ninja)")
        return cmake

    def _configure(self, out_dir: Path) -> Path:
        build_dir = Path(self.build_temp).resolve() / "cmake"
        if self._configured_for == out_dir:
            return build_dir
        import pybind11

        build_dir.mkdir(parents=True, exist_ok=True)
        args = [
            "-S",
            str(ROOT),
            "-B",
            str(build_dir),
            f"-DPython_EXECUTABLE={sys.executable}",
            f"-Dpybind11_DIR={pybind11.get_cmake_dir()}",
            f"-DFASTPIX_OUTPUT_DIR={out_dir}",
            "-DCMAKE_BUILD_TYPE=Release",
            f"-DFASTPIX_ASAN={'ON' if os.environ.get('FASTPIX_ASAN') == '1' else 'OFF'}",
        ]
        ninja = _tool("ninja")
        if ninja:
            args += ["-G", "Ninja", f"-DCMAKE_MAKE_PROGRAM={ninja}"]
        cuda = CUDA_ARGS
        args += [f"-DFASTPIX_CUDA={'ON' if cuda else 'OFF'}", *(cuda or [])]
        subprocess.run([self._cmake(), *args], check=True)
        self._configured_for = out_dir
        return build_dir

    def build_extension(self, ext: Extension) -> None:
        out_dir = Path(self.get_ext_fullpath(ext.name)).resolve().parent
        out_dir.mkdir(parents=True, exist_ok=True)
        build_dir = self._configure(out_dir)
        jobs = os.environ.get("FASTPIX_BUILD_JOBS", "2")
        subprocess.run(
            [self._cmake(), "--build", str(build_dir), "--target", ext.target, "-j", jobs],
            check=True,
        )


if _env_flag("FASTPIX_NATIVE", "1", ("0", "1")) == "0":
    CUDA_ARGS = None
    ext_modules: list[Extension] = []
else:
    CUDA_ARGS = cuda_build_settings()
    ext_modules = [CMakeExtension("fastpix._C")]
    if CUDA_ARGS is not None:
        ext_modules.append(CMakeExtension("fastpix._C_cuda"))

setup(ext_modules=ext_modules, cmdclass={"build_ext": CMakeBuild})
