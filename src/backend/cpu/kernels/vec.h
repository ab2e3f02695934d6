// f32 SIMD helpers for the kernels in this folder, one vector width per compilation (isa.h):
// `vf` is __m256 (kW = 8 lanes, AVX2 + FMA) or __m512 (kW = 16, AVX-512 F/DQ). The kernels are
// written once against these names. Also the transcendental functions the activations and softmax
// need: exp (Cody-Waite range reduction + degree-6 polynomial, ~2 ulp), erf (Abramowitz & Stegun
// 7.1.26, |err| < 1.5e-7), tanh and sigmoid built on exp.
//
// No include guard and no namespace of its own: it is included once per kernel file, right after
// SDPP_KERNELS_BEGIN, so that everything here is compiled for that file's instruction set and
// lives in its namespace (an inline function shared by both copies would break the AVX2 build).

inline float sigmoid_s(float x) { return 1.0f / (1.0f + std::exp(-x)); }
inline float silu_s(float x) { return x * sigmoid_s(x); }
inline float gelu_erf_s(float x) { return 0.5f * x * (1.0f + std::erf(x * 0.70710678118654752f)); }
inline float gelu_tanh_s(float x) {
    return 0.5f * x * (1.0f + std::tanh(0.7978845608028654f * (x + 0.044715f * x * x * x)));
}
inline float quick_gelu_s(float x) { return x * sigmoid_s(1.702f * x); }

#if defined(SDPP_KERNEL_ISA_AVX512)
using vf = __m512;
constexpr int kW = 16;
inline vf vload(const float* p) { return _mm512_loadu_ps(p); }
inline void vstore(float* p, vf v) { _mm512_storeu_ps(p, v); }
inline vf vset1(float x) { return _mm512_set1_ps(x); }
inline vf vzero() { return _mm512_setzero_ps(); }
inline vf vadd(vf a, vf b) { return _mm512_add_ps(a, b); }
inline vf vsub(vf a, vf b) { return _mm512_sub_ps(a, b); }
inline vf vmul(vf a, vf b) { return _mm512_mul_ps(a, b); }
inline vf vdiv(vf a, vf b) { return _mm512_div_ps(a, b); }
inline vf vmax(vf a, vf b) { return _mm512_max_ps(a, b); }
inline vf vmin(vf a, vf b) { return _mm512_min_ps(a, b); }
inline vf vfmadd(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }   // a*b + c
inline vf vfnmadd(vf a, vf b, vf c) { return _mm512_fnmadd_ps(a, b, c); } // c - a*b
inline vf vand(vf a, vf b) { return _mm512_and_ps(a, b); }
inline vf vandnot(vf a, vf b) { return _mm512_andnot_ps(a, b); }  // ~a & b
inline vf vor(vf a, vf b) { return _mm512_or_ps(a, b); }
inline vf vround(vf x) { return _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
// 2^n for integral-valued n in [-127, 128].
inline vf vpow2i(vf n) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23));
}
inline float vhsum(vf v) { return _mm512_reduce_add_ps(v); }
inline float vhmax(vf v) { return _mm512_reduce_max_ps(v); }
// Lanes [n, kW) replaced by `fill` (0 <= n <= kW).
inline vf vkeep_first(vf v, int n, float fill) {
    return _mm512_mask_blend_ps(__mmask16((1u << n) - 1u), _mm512_set1_ps(fill), v);
}
#else
using vf = __m256;
constexpr int kW = 8;
inline vf vload(const float* p) { return _mm256_loadu_ps(p); }
inline void vstore(float* p, vf v) { _mm256_storeu_ps(p, v); }
inline vf vset1(float x) { return _mm256_set1_ps(x); }
inline vf vzero() { return _mm256_setzero_ps(); }
inline vf vadd(vf a, vf b) { return _mm256_add_ps(a, b); }
inline vf vsub(vf a, vf b) { return _mm256_sub_ps(a, b); }
inline vf vmul(vf a, vf b) { return _mm256_mul_ps(a, b); }
inline vf vdiv(vf a, vf b) { return _mm256_div_ps(a, b); }
inline vf vmax(vf a, vf b) { return _mm256_max_ps(a, b); }
inline vf vmin(vf a, vf b) { return _mm256_min_ps(a, b); }
inline vf vfmadd(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
inline vf vfnmadd(vf a, vf b, vf c) { return _mm256_fnmadd_ps(a, b, c); }
inline vf vand(vf a, vf b) { return _mm256_and_ps(a, b); }
inline vf vandnot(vf a, vf b) { return _mm256_andnot_ps(a, b); }
inline vf vor(vf a, vf b) { return _mm256_or_ps(a, b); }
inline vf vround(vf x) { return _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
inline vf vpow2i(vf n) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23));
}
inline float vhsum(vf v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
inline float vhmax(vf v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
inline vf vkeep_first(vf v, int n, float fill) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256 keep = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(n), lane));
    return _mm256_blendv_ps(_mm256_set1_ps(fill), v, keep);
}
#endif

inline vf vexp(vf x) {
    x = vmin(vset1(88.3762626647949f), vmax(vset1(-87.3365447504f), x));  // x second: min/max return it when NaN
    vf n = vround(vmul(x, vset1(1.44269504088896341f)));
    vf r = vfnmadd(n, vset1(0.693359375f), x);
    r = vfnmadd(n, vset1(-2.12194440e-4f), r);
    vf p = vset1(1.0f / 720);
    p = vfmadd(p, r, vset1(1.0f / 120));
    p = vfmadd(p, r, vset1(1.0f / 24));
    p = vfmadd(p, r, vset1(1.0f / 6));
    p = vfmadd(p, r, vset1(0.5f));
    p = vfmadd(p, r, vset1(1.0f));
    p = vfmadd(p, r, vset1(1.0f));
    return vmul(p, vpow2i(n));
}

inline vf vsigmoid(vf x) {
    const vf one = vset1(1.0f);
    return vdiv(one, vadd(one, vexp(vsub(vzero(), x))));
}

inline vf verf(vf x) {
    const vf sign = vset1(-0.0f);
    vf s = vand(x, sign);
    vf a = vandnot(sign, x);
    vf t = vdiv(vset1(1.0f), vfmadd(a, vset1(0.3275911f), vset1(1.0f)));
    vf p = vset1(1.061405429f);
    p = vfmadd(p, t, vset1(-1.453152027f));
    p = vfmadd(p, t, vset1(1.421413741f));
    p = vfmadd(p, t, vset1(-0.284496736f));
    p = vfmadd(p, t, vset1(0.254829592f));
    p = vmul(p, t);
    vf e = vexp(vsub(vzero(), vmul(a, a)));
    vf r = vfnmadd(p, e, vset1(1.0f));
    return vor(r, s);
}

inline vf vtanh(vf x) {
    const vf one = vset1(1.0f), two = vset1(2.0f);
    vf e = vexp(vmul(two, x));
    return vsub(one, vdiv(two, vadd(e, one)));
}

inline vf vsilu(vf x) { return vmul(x, vsigmoid(x)); }
inline vf vgelu_erf(vf x) {
    vf h = vmul(x, vset1(0.5f));
    return vfmadd(h, verf(vmul(x, vset1(0.70710678118654752f))), h);
}
inline vf vgelu_tanh(vf x) {
    vf x3 = vmul(vmul(x, x), x);
    vf u = vmul(vset1(0.7978845608028654f), vfmadd(x3, vset1(0.044715f), x));
    vf h = vmul(x, vset1(0.5f));
    return vfmadd(h, vtanh(u), h);
}
inline vf vquick_gelu(vf x) { return vmul(x, vsigmoid(vmul(x, vset1(1.702f)))); }

// Applies f (vector fv and scalar fs) over n floats: y[i] = f(x[i]).
template <class FV, class FS>
inline void map_floats(const float* x, float* y, int64_t n, FV fv, FS fs) {
    int64_t i = 0;
    for (; i + kW <= n; i += kW) vstore(y + i, fv(vload(x + i)));
    for (; i < n; ++i) y[i] = fs(x[i]);
}
