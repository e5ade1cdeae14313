#!/usr/bin/env bash
# Portability check of the CPU decoder (csrc/cpu, csrc/bindings.cpp and the two standalone
# drivers): compiles it with every compiler found here, warnings as errors, runs the digest
# driver csrc/portability/pair_digest.cpp of each build and requires the same digests as the
# host gcc build (aarch64 builds run under qemu-user), and checks that the aarch64 hot loops
# use NEON vectors and the x86-64 ones have their AVX2 clones. What cannot run here (missing
# compiler, target headers, qemu) is reported as skipped.
#
#   tools/check_portability.sh                 # about 2-4 minutes on 2 cores
#   JOBS=4 tools/check_portability.sh --cmake  # also cross-build fastpix._C for aarch64 with CMake
#   AARCH64_CXX="aarch64-linux-gnu-g++:aarch64-linux-gnu-g++-11" tools/check_portability.sh
#
# Debian/Ubuntu packages for everything: clang g++-aarch64-linux-gnu qemu-user-static, and
# after `dpkg --add-architecture arm64 && apt-get update`: libjpeg62-turbo-dev:arm64 (Ubuntu:
# libjpeg-turbo8-dev:arm64) libpng-dev:arm64 libpython3-dev:arm64. Exit status 1 if any check
# failed; skipped checks do not fail.
set -uo pipefail
cd "$(dirname "$0")/.."

WITH_CMAKE=0
for arg in "$@"; do
  case "$arg" in
    --cmake) WITH_CMAKE=1 ;;
    -h | --help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "check_portability: unknown argument '$arg' (expected --cmake or --help)" >&2; exit 2 ;;
  esac
done

JOBS=${JOBS:-2}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fastpix-portability.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
PYTHON=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}

# The project's own flags (CMakeLists.txt's FASTPIX_CXX_FLAGS) plus what CMake adds.
PROJECT_FLAGS=$(sed -n 's/^set(FASTPIX_CXX_FLAGS \(.*\))$/\1/p' CMakeLists.txt)
if [ -z "$PROJECT_FLAGS" ]; then
  echo "check_portability: could not read FASTPIX_CXX_FLAGS from CMakeLists.txt" >&2
  exit 2
fi
BASE_FLAGS="-std=c++17 -fPIC -fvisibility=hidden $PROJECT_FLAGS -Werror -Icsrc"
CPU_SOURCES=(csrc/cpu/*.cpp)
DRIVERS=(csrc/portability/pair_digest.cpp csrc/fuzz/fuzz_decode.cpp)

failures=0
summary=()
report() {  # status (ok|FAIL|skipped) and what
  summary+=("$(printf '%-8s %s' "$1" "$2")")
  [ "$1" = FAIL ] && failures=$((failures + 1))
  printf '%-8s %s\n' "$1" "$2"
}

have() { command -v "$1" >/dev/null 2>&1; }

# Whether `compiler flags...` finds the codec headers (and, with "python", Python.h + pybind11).
headers_found() {
  local what=$1; shift
  local probe='#include <cstdio>
#include <jpeglib.h>
#include <png.h>'
  [ "$what" = python ] && probe='#include <pybind11/pybind11.h>'
  printf '%s\n' "$probe" | "$@" -x c++ -fsyntax-only - >/dev/null 2>&1
}

# compile_all NAME "compiler and flags" [python include flags]: objects under $WORK/NAME.
compile_all() {
  local name=$1 cxx=$2 py_flags=${3:-}
  local out=$WORK/$name
  mkdir -p "$out"
  local sources=("${CPU_SOURCES[@]}" "${DRIVERS[@]}")
  if [ -n "$py_flags" ]; then
    sources+=(csrc/bindings.cpp)
  fi
  # shellcheck disable=SC2086
  printf '%s\n' "${sources[@]}" | xargs -P "$JOBS" -I{} sh -c \
    'f={}; o='"$out"'/$(basename "$f" .cpp).o; '"$cxx $BASE_FLAGS $py_flags"' -c "$f" -o "$o" \
       > "$o.log" 2>&1 || { echo "--- $f"; cat "$o.log"; exit 1; }' > "$out/errors.txt"
  if [ -s "$out/errors.txt" ]; then
    cat "$out/errors.txt"
    report FAIL "$name: compile (${#sources[@]} files, -Werror)"
    return 1
  fi
  local note=""
  [ -z "$py_flags" ] && note=", bindings.cpp skipped: no Python/pybind11 headers for this target"
  report ok "$name: compiled ${#sources[@]} files with -Wall -Wextra -Werror$note"
}

# link_digest NAME "compiler" [runner]: links the digest driver, runs it, compares with host gcc.
link_digest() {
  local name=$1 cxx=$2 runner=${3:-}
  local out=$WORK/$name
  local objects=("$out"/decode_*.o "$out"/palette_table.o "$out"/pair_pipeline.o
                 "$out"/resample.o "$out"/thread_pool.o "$out"/pair_digest.o)
  local libs="-ljpeg -lpng -lpthread"
  # Static where the target's archives exist (qemu then needs no target root), else dynamic.
  # shellcheck disable=SC2086
  if ! $cxx -static "${objects[@]}" -o "$out/pair_digest" $libs -lz >/dev/null 2>&1 &&
     ! $cxx "${objects[@]}" -o "$out/pair_digest" $libs > "$out/link.log" 2>&1; then
    cat "$out/link.log"
    report FAIL "$name: link the digest driver"
    return 1
  fi
  if [ -n "$runner" ] && ! have "${runner%% *}"; then
    report skipped "$name: digests (no ${runner%% *} to run $name code)"
    return 0
  fi
  # shellcheck disable=SC2086
  if ! $runner "$out/pair_digest" > "$out/digests.txt" 2> "$out/run.log"; then
    cat "$out/run.log"
    report FAIL "$name: digest driver exited with an error"
    return 1
  fi
  if [ "$name" = x86-64-gcc ]; then
    cp "$out/digests.txt" "$WORK/reference.txt"
    report ok "$name: digests computed ($(wc -l < "$out/digests.txt") cases, the reference)"
  elif diff "$WORK/reference.txt" "$out/digests.txt" > "$out/diff.txt"; then
    report ok "$name: all $(wc -l < "$out/digests.txt") digests equal the x86-64 gcc build's"
  else
    cat "$out/diff.txt"
    report FAIL "$name: digests differ from the x86-64 gcc build's"
  fi
}

# count_in_functions OBJDUMP OBJECT NAME-PATTERN INSN-PATTERN: instructions matching
# INSN-PATTERN inside the functions whose demangled name matches NAME-PATTERN.
count_in_functions() {
  "$1" -d --no-show-raw-insn -C "$2" | awk -v name="$3" -v insn="$4" '
    /^[0-9a-f]+ <.*>:$/ { inside = ($0 ~ name) }
    inside && $0 ~ insn { n++ }
    END { print n + 0 }'
}

host_py_flags=""
if PY_INCLUDES=$("$PYTHON" -m pybind11 --includes 2>/dev/null) &&
   headers_found python g++ -std=c++17 $PY_INCLUDES; then
  host_py_flags=$PY_INCLUDES
fi

# --- x86-64 (the host): gcc with and without the AVX2 clones, clang ---------------------------
if compile_all x86-64-gcc "g++" "$host_py_flags"; then
  link_digest x86-64-gcc g++
  clones=$(count_in_functions objdump "$WORK/x86-64-gcc/pair_pipeline.o" \
           'filter_(row|columns).*clone .avx2' '%ymm')
  if [ "$clones" -gt 0 ]; then
    report ok "x86-64-gcc: AVX2 clones of filter_row/filter_columns use ymm ($clones insns)"
  else
    report FAIL "x86-64-gcc: no AVX2 code in the filter_row/filter_columns clones"
  fi
else
  echo "check_portability: the host gcc build fails; nothing to compare with" >&2
  exit 1
fi
if compile_all x86-64-gcc-no-clones "g++ -DFASTPIX_NO_VECTOR_CLONES" "$host_py_flags"; then
  link_digest x86-64-gcc-no-clones g++
fi
if have clang++; then
  if compile_all x86-64-clang "clang++" "$host_py_flags"; then
    link_digest x86-64-clang clang++
  fi
else
  report skipped "x86-64-clang: clang++ not installed"
fi

# --- aarch64 (cross) ---------------------------------------------------------------------------
QEMU=$(have qemu-aarch64-static && echo qemu-aarch64-static || echo qemu-aarch64)
a64_py_flags() {  # Debian's multiarch Python headers for aarch64 + the (portable) pybind11 ones
  local version include
  version=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  include=/usr/include/python$version
  if [ -e "/usr/include/aarch64-linux-gnu/python$version/pyconfig.h" ] &&
     PYBIND=$("$PYTHON" -c 'import pybind11; print(pybind11.get_include())' 2>/dev/null); then
    echo "-I$include -I$PYBIND"
  fi
}
# Compiler commands, ':'-separated; e.g. add aarch64-linux-gnu-g++-11 (JetPack 6's gcc).
IFS=: read -r -a AARCH64_COMPILERS \
  <<< "${AARCH64_CXX:-aarch64-linux-gnu-g++:clang++ --target=aarch64-linux-gnu}"
for a64 in "${AARCH64_COMPILERS[@]}"; do
  name=aarch64-gcc
  case "${a64%% *}" in
    clang++*) name=aarch64-clang ;;
    *-g++-*) name=aarch64-gcc-${a64##*-} ;;
  esac
  if ! have "${a64%% *}" || ! have aarch64-linux-gnu-g++; then
    report skipped "$name: needs ${a64%% *} and the aarch64-linux-gnu gcc toolchain"
    continue
  fi
  if ! headers_found codecs $a64; then
    report skipped "$name: no aarch64 jpeglib.h/png.h (libjpeg-dev:arm64, libpng-dev:arm64)"
    continue
  fi
  if compile_all "$name" "$a64" "$(a64_py_flags)"; then
    link_digest "$name" "$a64" "$QEMU"
  fi
done
if [ -e "$WORK/aarch64-gcc/pair_pipeline.o" ]; then
  # NEON: 4 × int32 multiply-accumulates (mla vN.4s) in both resampling passes.
  for fn in filter_row filter_columns; do
    mla=$(count_in_functions aarch64-linux-gnu-objdump "$WORK/aarch64-gcc/pair_pipeline.o" \
          "$fn[(]" 'mla[ \t]+v[0-9]+[.]4s')
    if [ "$mla" -gt 0 ]; then
      report ok "aarch64-gcc: $fn vectorized with NEON ($mla mla v.4s instructions)"
    else
      report FAIL "aarch64-gcc: $fn has no NEON multiply-accumulate (not vectorized)"
    fi
  done
fi

# --- aarch64 CMake cross build of fastpix._C (optional) ---------------------------------------
if [ "$WITH_CMAKE" = 1 ]; then
  a64_flags=$(a64_py_flags)
  if ! have aarch64-linux-gnu-g++ || [ -z "$a64_flags" ] || ! have cmake; then
    report skipped "aarch64 CMake build: needs aarch64-linux-gnu-g++, cmake and arm64 Python headers"
  else
    version=$("$PYTHON" -c 'import sys; print("%d%d" % sys.version_info[:2])')
    if cmake -S . -B "$WORK/cmake-a64" -G Ninja --toolchain tools/aarch64-linux-gnu.cmake \
         -DPython_EXECUTABLE="$PYTHON" -Dpybind11_DIR="$("$PYTHON" -m pybind11 --cmakedir)" \
         -DPython_INCLUDE_DIR="$(echo "${a64_flags%% *}" | sed 's/^-I//')" \
         -DPYTHON_MODULE_EXTENSION=".cpython-$version-aarch64-linux-gnu.so" \
         -DPYTHON_MODULE_DEBUG_POSTFIX="" -DFASTPIX_OUTPUT_DIR="$WORK/cmake-a64/out" \
         > "$WORK/cmake-a64.log" 2>&1 &&
       cmake --build "$WORK/cmake-a64" -j "$JOBS" >> "$WORK/cmake-a64.log" 2>&1 &&
       file "$WORK"/cmake-a64/out/_C.*.so | grep -q 'ARM aarch64'; then
      report ok "aarch64 CMake build: $(basename "$WORK"/cmake-a64/out/_C.*.so) (ARM aarch64 ELF)"
    else
      tail -30 "$WORK/cmake-a64.log"
      report FAIL "aarch64 CMake build of fastpix._C"
    fi
  fi
fi
report skipped "csrc/cuda: not compiled here (needs nvcc and the CUDA headers of each target)"

echo
echo "summary:"
printf '  %s\n' "${summary[@]}"
[ "$failures" -eq 0 ]
