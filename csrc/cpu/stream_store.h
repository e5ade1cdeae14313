// Copies of finished output rows that bypass the cache.
//
// A batch of outputs (tens of MB) is far larger than the caches and is not read again until
// the next training step, so ordinary stores cost a read of every line before it is written.
// On x86-64 the rows go out with SSE2 non-temporal stores (part of the baseline); elsewhere
// they are plain copies. Either way the bytes are the same.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

#if (defined(__x86_64__) || defined(_M_X64)) && !defined(FASTPIX_NO_STREAM_STORES)
#include <emmintrin.h>
#define FASTPIX_STREAM_STORES 1
#endif

namespace fastpix {

// dst[0, bytes) = src[0, bytes); the destination's lines are not kept in cache.
inline void stream_copy(void* dst, const void* src, size_t bytes) {
#ifdef FASTPIX_STREAM_STORES
  auto* d = static_cast<uint8_t*>(dst);
  auto* s = static_cast<const uint8_t*>(src);
  const size_t head = std::min(bytes, size_t(-reinterpret_cast<uintptr_t>(d) & 15));
  std::memcpy(d, s, head);
  d += head;
  s += head;
  bytes -= head;
  for (; bytes >= 16; bytes -= 16, d += 16, s += 16) {
    _mm_stream_si128(reinterpret_cast<__m128i*>(d),
                     _mm_loadu_si128(reinterpret_cast<const __m128i*>(s)));
  }
  std::memcpy(d, s, bytes);
#else
  std::memcpy(dst, src, bytes);
#endif
}

// Orders the streamed stores before whatever follows (another thread reading the output).
inline void stream_fence() {
#ifdef FASTPIX_STREAM_STORES
  _mm_sfence();
#endif
}

}  // namespace fastpix
