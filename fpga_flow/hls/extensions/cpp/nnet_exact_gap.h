// fpga_flow extension: global average pooling with exact, documented semantics.
//
//   out = saturate(round_half_to_even(sum(x) / N))   on the output type's grid,
//
// where the sum over the N = in_height*in_width pixels is exact (accum_t is wide enough by
// construction) and the division is an integer division with correct round-half-to-even, the
// rounding QKeras uses (tf.round). The Keras side (ExactGlobalAveragePooling2D) computes the same
// value in float64, which is exact for these magnitudes (see fpga_flow/hls/extensions/gap.py).
// Stock hls4ml divides in a fixed type and truncates, so its mean differs from any quantized mean.
//
// Hardware: one adder per channel (pixels arrive one per clock), then one divider shared over the
// channels (the output loop is pipelined), once per frame.
#ifndef NNET_EXACT_GAP_H_
#define NNET_EXACT_GAP_H_

#include "hls_stream.h"
#include "nnet_common.h"

namespace nnet {

struct exact_gap_config {
    static const unsigned n_pixels = 1;
    static const unsigned n_chan = 1;
    static const bool out_signed = false;
    typedef ap_fixed<32, 16> accum_t;
};

// An integer code, saturated into res_elem_T's code range (signed or not) and stored as its bits.
// Shared with the exact average pool (nnet_exact_avgpool.h).
template <class res_elem_T, bool RSIGNED, int W> res_elem_T saturate_code(ap_int<W> code) {
    #pragma HLS INLINE
    static const int RW = res_elem_T::width;
    const ap_int<W> max_code = RSIGNED ? ((ap_int<W>(1) << (RW - 1)) - 1) : ((ap_int<W>(1) << RW) - 1);
    const ap_int<W> min_code = RSIGNED ? ap_int<W>(-(ap_int<W>(1) << (RW - 1))) : ap_int<W>(0);
    if (code > max_code)
        code = max_code;
    if (code < min_code)
        code = min_code;
    res_elem_T out;
    out.range(RW - 1, 0) = code.range(RW - 1, 0);
    return out;
}

// round_half_even(code(sum) * 2^(FO-FI) / N), saturated into res_elem_T's code range.
template <class accum_T, class res_elem_T, unsigned N, bool RSIGNED>
res_elem_T exact_mean(accum_T sum) {
    #pragma HLS INLINE
    static const int FI = accum_T::width - accum_T::iwidth;
    static const int FO = res_elem_T::width - res_elem_T::iwidth;
    static const int SHL = FO > FI ? FO - FI : 0;
    static const int SHR = FI > FO ? FI - FO : 0;
    static const int NW = accum_T::width + SHL + 2;
    static const unsigned long long DEN = (unsigned long long)N << SHR;

    // Integer code of the sum, widened and scaled to the output's fractional bits.
    ap_fixed<NW, NW - FI> wide = sum;
    ap_int<NW> num;
    num.range(NW - 1, 0) = wide.range(NW - 1, 0);
    num = num << SHL;

    const bool neg = num < 0;
    ap_uint<NW> mag = neg ? ap_uint<NW>(-num) : ap_uint<NW>(num);
    ap_uint<NW> q = mag / DEN;
    ap_uint<NW + 1> rem2 = ap_uint<NW + 1>(mag - q * DEN) << 1;
    if (rem2 > DEN || (rem2 == DEN && q[0] == 1))
        q = q + 1;
    return saturate_code<res_elem_T, RSIGNED>(neg ? ap_int<NW + 1>(-ap_int<NW + 1>(q)) : ap_int<NW + 1>(q));
}

template <class data_T, class res_T, typename CONFIG_T>
void exact_global_avgpool2d_cl(hls::stream<data_T> &data, hls::stream<res_T> &res) {
    typename CONFIG_T::accum_t acc[CONFIG_T::n_chan];
    #pragma HLS ARRAY_PARTITION variable=acc complete

InitLoop:
    for (unsigned ch = 0; ch < CONFIG_T::n_chan; ch++) {
        #pragma HLS UNROLL
        acc[ch] = 0;
    }

AccumLoop:
    for (unsigned i = 0; i < CONFIG_T::n_pixels; i++) {
        #pragma HLS PIPELINE II=1
        const data_T in_elem = data.read();
        for (unsigned ch = 0; ch < CONFIG_T::n_chan; ch++) {
            #pragma HLS UNROLL
            acc[ch] += in_elem[ch];
        }
    }

    res_T out_elem;
    PRAGMA_DATA_PACK(out_elem)
DivideLoop:
    for (unsigned ch = 0; ch < CONFIG_T::n_chan; ch++) {
        #pragma HLS PIPELINE II=1
        out_elem[ch] = exact_mean<typename CONFIG_T::accum_t, typename res_T::value_type, CONFIG_T::n_pixels,
                               CONFIG_T::out_signed>(acc[ch]);
    }
    res.write(out_elem);
}

} // namespace nnet

#endif
