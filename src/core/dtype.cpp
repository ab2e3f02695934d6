// f16/bf16 conversions. Scalar versions are bit exact (round to nearest even); the bulk loops use
// F16C (exact by construction) and AVX2 integer rounding for bf16, with the scalar code as tail and
// portable fallback.
#include "core/dtype.h"

#include "core/error.h"

#include <cstring>
#include <string>
#if defined(__F16C__) || defined(__AVX2__)
#include <immintrin.h>
#endif

namespace sdpp {

DType parse_dtype(std::string_view s) {
    if (s == "f32" || s == "fp32" || s == "float32" || s == "F32") return DType::F32;
    if (s == "f16" || s == "fp16" || s == "float16" || s == "half" || s == "F16") return DType::F16;
    if (s == "bf16" || s == "bfloat16" || s == "BF16") return DType::BF16;
    throw error("unknown dtype '", std::string(s), "' (expected f32, f16 or bf16)");
}

float f16_to_f32(uint16_t h) {
    uint32_t sign = uint32_t(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t mant = h & 0x3ffu;
    if (exp == 0) {
        if (mant == 0) return bits_to_f32(sign);
        // subnormal half: normalise into a float exponent
        int e = 113;
        while (!(mant & 0x400u)) { mant <<= 1; --e; }
        mant &= 0x3ffu;
        return bits_to_f32(sign | (uint32_t(e) << 23) | (mant << 13));
    }
    if (exp == 31) return bits_to_f32(sign | 0x7f800000u | (mant << 13));
    return bits_to_f32(sign | ((exp + 112u) << 23) | (mant << 13));
}

uint16_t f32_to_f16(float value) {
    uint32_t f = f32_to_bits(value);
    const uint32_t sign = f & 0x80000000u;
    f ^= sign;
    uint32_t o;
    if (f >= (143u << 23)) {                         // >= 65536 (or inf / NaN)
        o = f > 0x7f800000u ? 0x7e00u : 0x7c00u;
    } else if (f < (113u << 23)) {                   // result is subnormal or zero:
        const uint32_t magic = 126u << 23;           // let the FPU round at the 2^-24 position
        o = f32_to_bits(bits_to_f32(f) + bits_to_f32(magic)) - magic;
    } else {
        uint32_t mant_odd = (f >> 13) & 1u;
        f += (uint32_t(15 - 127) << 23) + 0xfffu;    // rebias; round half to even below
        f += mant_odd;
        o = f >> 13;
    }
    return uint16_t(o | (sign >> 16));
}

namespace {
// Element i of a buffer that may be misaligned (tensor data in a file starts wherever its header
// ends): loads and stores through memcpy, which compile to plain moves.
template <class T>
T load_at(const void* p, size_t i) {
    T v;
    std::memcpy(&v, static_cast<const char*>(p) + i * sizeof(T), sizeof(T));
    return v;
}
template <class T>
void store_at(void* p, size_t i, T v) {
    std::memcpy(static_cast<char*>(p) + i * sizeof(T), &v, sizeof(T));
}
}  // namespace

void convert_f16_to_f32(const uint16_t* src, float* dst, size_t n) {
    size_t i = 0;
#if defined(__F16C__) && defined(__AVX__)
#pragma omp parallel for if (n > (1u << 20)) schedule(static)
    for (size_t j = 0; j < n / 8; ++j)
        _mm256_storeu_ps(dst + 8 * j, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)(src + 8 * j))));
    i = n / 8 * 8;
#endif
    for (; i < n; ++i) store_at<float>(dst, i, f16_to_f32(load_at<uint16_t>(src, i)));
}

void convert_f32_to_f16(const float* src, uint16_t* dst, size_t n) {
    size_t i = 0;
#if defined(__F16C__) && defined(__AVX__)
#pragma omp parallel for if (n > (1u << 20)) schedule(static)
    for (size_t j = 0; j < n / 8; ++j)
        _mm_storeu_si128((__m128i*)(dst + 8 * j),
                         _mm256_cvtps_ph(_mm256_loadu_ps(src + 8 * j), _MM_FROUND_TO_NEAREST_INT));
    i = n / 8 * 8;
#endif
    for (; i < n; ++i) store_at<uint16_t>(dst, i, f32_to_f16(load_at<float>(src, i)));
}

void convert_bf16_to_f32(const uint16_t* src, float* dst, size_t n) {
    size_t i = 0;
#if defined(__AVX2__)
#pragma omp parallel for if (n > (1u << 20)) schedule(static)
    for (size_t j = 0; j < n / 8; ++j) {
        __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i*)(src + 8 * j)));
        _mm256_storeu_si256((__m256i*)(dst + 8 * j), _mm256_slli_epi32(v, 16));
    }
    i = n / 8 * 8;
#endif
    for (; i < n; ++i) store_at<float>(dst, i, bf16_to_f32(load_at<uint16_t>(src, i)));
}

void convert_f32_to_bf16(const float* src, uint16_t* dst, size_t n) {
    size_t i = 0;
#if defined(__AVX2__)
#pragma omp parallel for if (n > (1u << 20)) schedule(static)
    for (size_t j = 0; j < n / 8; ++j) {
        __m256i u = _mm256_loadu_si256((const __m256i*)(src + 8 * j));
        __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
        __m256i r = _mm256_add_epi32(_mm256_add_epi32(u, _mm256_set1_epi32(0x7fff)), lsb);
        // NaN lanes keep their payload's top bits and get the quiet bit
        __m256i absu = _mm256_and_si256(u, _mm256_set1_epi32(0x7fffffff));
        __m256i nan = _mm256_cmpgt_epi32(absu, _mm256_set1_epi32(0x7f800000));
        __m256i q = _mm256_or_si256(u, _mm256_set1_epi32(0x400000));
        r = _mm256_blendv_epi8(r, q, nan);
        r = _mm256_srli_epi32(r, 16);
        __m128i packed = _mm_packus_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
        _mm_storeu_si128((__m128i*)(dst + 8 * j), packed);
    }
    i = n / 8 * 8;
#endif
    for (; i < n; ++i) store_at<uint16_t>(dst, i, f32_to_bf16(load_at<float>(src, i)));
}

namespace {
double load_as_double(const void* p, DType t, size_t i) {
    switch (t) {
        case DType::F32: return load_at<float>(p, i);
        case DType::F16: return f16_to_f32(load_at<uint16_t>(p, i));
        case DType::BF16: return bf16_to_f32(load_at<uint16_t>(p, i));
        case DType::F64: return load_at<double>(p, i);
        case DType::I64: return double(load_at<int64_t>(p, i));
        case DType::I32: return load_at<int32_t>(p, i);
        case DType::I16: return load_at<int16_t>(p, i);
        case DType::I8: return load_at<int8_t>(p, i);
        case DType::U8: case DType::Bool: return load_at<uint8_t>(p, i);
    }
    return 0;
}
void store_double(void* p, DType t, size_t i, double v) {
    switch (t) {
        case DType::F32: store_at(p, i, float(v)); break;
        case DType::F16: store_at(p, i, f32_to_f16(float(v))); break;
        case DType::BF16: store_at(p, i, f32_to_bf16(float(v))); break;
        case DType::F64: store_at(p, i, v); break;
        case DType::I64: store_at(p, i, int64_t(v)); break;
        case DType::I32: store_at(p, i, int32_t(v)); break;
        case DType::I16: store_at(p, i, int16_t(v)); break;
        case DType::I8: store_at(p, i, int8_t(v)); break;
        case DType::U8: store_at(p, i, uint8_t(v)); break;
        case DType::Bool: store_at(p, i, uint8_t(v != 0)); break;
    }
}
}  // namespace

void convert(const void* src, DType st, void* dst, DType dt, size_t n) {
    if (st == dt) { std::memcpy(dst, src, n * dtype_size(st)); return; }
    auto s16 = static_cast<const uint16_t*>(src);
    auto d16 = static_cast<uint16_t*>(dst);
    if (st == DType::F16 && dt == DType::F32) return convert_f16_to_f32(s16, static_cast<float*>(dst), n);
    if (st == DType::BF16 && dt == DType::F32) return convert_bf16_to_f32(s16, static_cast<float*>(dst), n);
    if (st == DType::F32 && dt == DType::F16) return convert_f32_to_f16(static_cast<const float*>(src), d16, n);
    if (st == DType::F32 && dt == DType::BF16) return convert_f32_to_bf16(static_cast<const float*>(src), d16, n);
    if (st == DType::F16 && dt == DType::BF16) {
        // exact: f16 -> f32 is exact, then one rounding to bf16
        for (size_t i = 0; i < n; ++i) store_at(dst, i, f32_to_bf16(f16_to_f32(load_at<uint16_t>(src, i))));
        return;
    }
    for (size_t i = 0; i < n; ++i) store_double(dst, dt, i, load_as_double(src, st, i));
}

}  // namespace sdpp
