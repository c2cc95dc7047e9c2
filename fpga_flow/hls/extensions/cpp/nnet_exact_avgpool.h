// fpga_flow extension: average pooling with exact, documented semantics in io_stream, e.g.
// ShuffleNet's 3x3 stride-2 'same' shortcut pool (stock hls4ml 1.3.0 aborts on it in io_stream).
//
//   out = saturate(round_half_to_even(sum / n))   on the output type's grid,
//
// sum = exact sum of the window's cells inside the map, n = their count (padded cells excluded, as
// Keras does). The Keras side (ExactAveragePooling2D) computes the same value in float64.
//
// Structure (synthesizable, one input pixel per clock): the line-buffer window engine of
// nnet_stream_maxpool.h (stream_window2d_cl) with sums instead of maxima: pool_height-1 row
// memories of depth in_width, column sums, a shift register of the last pool_width column sums;
// when a pixel closes an output window, its sum is divided by the cell count n = rows * cols.
// Division: n takes at most pool_height*pool_width values, so it is a multiplication by a
// reciprocal from a constant table, exact for every numerator below 2^num_bits (table generated
// and checked in fpga_flow/hls/extensions/avgpool.py), then round-half-to-even from the remainder.
#ifndef NNET_EXACT_AVGPOOL_H_
#define NNET_EXACT_AVGPOOL_H_

#include "hls_stream.h"
#include "nnet_common.h"
#include "nnet_exact_gap.h"
#include "nnet_stream_maxpool.h"

namespace nnet {

struct exact_avgpool2d_config : stream_maxpool2d_config {
    static const bool out_signed = false;
    typedef ap_fixed<16, 8> accum_t;
    static const unsigned div_shl = 0;
    static const unsigned div_shr = 0;
    static const unsigned num_bits = 16;
    static const unsigned recip_shift = 24;
    static const unsigned long long recip[2];
};

// round_half_even(code(sum) * 2^div_shl / (n << div_shr)), saturated into res_elem_T's code range.
template <class res_elem_T, typename CONFIG_T>
res_elem_T exact_window_mean(typename CONFIG_T::accum_t sum, unsigned n) {
    #pragma HLS INLINE
    typedef typename CONFIG_T::accum_t accum_t;
    static const int FI = accum_t::width - accum_t::iwidth;
    static const int NB = CONFIG_T::num_bits;
    static const int W = NB + 2;

    ap_fixed<W, W - FI> wide = sum;
    ap_int<W> num;
    num.range(W - 1, 0) = wide.range(W - 1, 0);
    num = num << CONFIG_T::div_shl;
    const bool neg = num < 0;
    const ap_uint<NB> mag = neg ? ap_uint<NB>(-num) : ap_uint<NB>(num);

    const ap_uint<NB + CONFIG_T::recip_shift> prod = ap_uint<NB + CONFIG_T::recip_shift>(mag) * CONFIG_T::recip[n];
    ap_uint<NB> q = prod >> CONFIG_T::recip_shift;
    const ap_uint<NB + 8> den = ap_uint<NB + 8>(n) << CONFIG_T::div_shr;
    const ap_uint<NB + 9> rem2 = ap_uint<NB + 9>(mag - q * den) << 1;
    if (rem2 > den || (rem2 == den && q[0] == 1))
        q = q + 1;
    return saturate_code<res_elem_T, CONFIG_T::out_signed>(neg ? ap_int<NB + 2>(-ap_int<NB + 2>(q)) : ap_int<NB + 2>(q));
}

// Sum of the window's cells (exact in accum_t), then the exact rounded division by their count.
template <class value_t, class res_elem_T, typename CONFIG_T> struct window_mean_op {
    typedef typename CONFIG_T::accum_t acc_t;
    static acc_t first(value_t v) { return acc_t(v); }
    template <class B> static acc_t add(acc_t a, B b) { return a + acc_t(b); }
    static res_elem_T finish(acc_t a, unsigned n) { return exact_window_mean<res_elem_T, CONFIG_T>(a, n); }
};

template <class data_T, class res_T, typename CONFIG_T>
void exact_avgpool2d_cl(hls::stream<data_T> &data, hls::stream<res_T> &res) {
    stream_window2d_cl<data_T, res_T, CONFIG_T,
                       window_mean_op<typename data_T::value_type, typename res_T::value_type, CONFIG_T> >(data, res);
}

} // namespace nnet

#endif
