// fpga_flow extension: average pooling with exact, documented semantics in io_stream, e.g.
// ShuffleNet's 3x3 stride-2 'same' shortcut pool (stock hls4ml 1.3.0 aborts on it in io_stream).
//
//   out = saturate(round_half_to_even(sum / n))   on the output type's grid,
//
// sum = exact sum of the window's cells inside the map, n = their count (padded cells excluded, as
// Keras does). The Keras side (ExactAveragePooling2D) computes the same value in float64.
//
// Structure (synthesizable, one input pixel per clock), as nnet_stream_maxpool.h:
//   * a line buffer of the previous pool_height-1 input rows (pool_height-1 memories of depth
//     in_width, one packed word of all channels per column);
//   * per input pixel the column sum over the rows of the output row ending at this input row;
//   * a shift register of the last pool_width column sums; when the pixel closes an output window,
//     the window sum is divided by its cell count n = rows * cols.
// Division: n takes at most pool_height*pool_width values, so it is a multiplication by a
// reciprocal from a constant table, exact for every numerator below 2^num_bits (table generated
// and checked in fpga_flow/hls/extensions/avgpool.py), then round-half-to-even from the remainder.
#ifndef NNET_EXACT_AVGPOOL_H_
#define NNET_EXACT_AVGPOOL_H_

#include "hls_stream.h"
#include "nnet_common.h"
#include "nnet_stream_maxpool.h"

namespace nnet {

struct exact_avgpool2d_config {
    static const unsigned in_height = 1;
    static const unsigned in_width = 1;
    static const unsigned n_chan = 1;
    static const unsigned pool_height = 1;
    static const unsigned pool_width = 1;
    static const unsigned stride_height = 1;
    static const unsigned stride_width = 1;
    static const unsigned pad_top = 0;
    static const unsigned pad_left = 0;
    static const unsigned out_height = 1;
    static const unsigned out_width = 1;
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
    static const int RW = res_elem_T::width;

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
    ap_int<NB + 2> code = neg ? ap_int<NB + 2>(-ap_int<NB + 2>(q)) : ap_int<NB + 2>(q);

    const ap_int<NB + 2> max_code =
        CONFIG_T::out_signed ? ((ap_int<NB + 2>(1) << (RW - 1)) - 1) : ((ap_int<NB + 2>(1) << RW) - 1);
    const ap_int<NB + 2> min_code = CONFIG_T::out_signed ? ap_int<NB + 2>(-(ap_int<NB + 2>(1) << (RW - 1))) : ap_int<NB + 2>(0);
    if (code > max_code)
        code = max_code;
    if (code < min_code)
        code = min_code;
    res_elem_T out;
    out.range(RW - 1, 0) = code.range(RW - 1, 0);
    return out;
}

template <class data_T, class res_T, typename CONFIG_T>
void exact_avgpool2d_cl(hls::stream<data_T> &data, hls::stream<res_T> &res) {
    typedef typename CONFIG_T::accum_t accum_t;
    static const unsigned KH = CONFIG_T::pool_height;
    static const unsigned KW = CONFIG_T::pool_width;
    static const unsigned LB_ROWS = KH > 1 ? KH - 1 : 1;

    // line_buf[k][c] holds input row (r-1-k), column c.
    static data_T line_buf[LB_ROWS][CONFIG_T::in_width];
    #pragma HLS ARRAY_PARTITION variable=line_buf complete dim=1
    // col_win[j] holds the column sum of column (c-j) of the current output row.
    static accum_t col_win[KW][CONFIG_T::n_chan];
    #pragma HLS ARRAY_PARTITION variable=col_win complete dim=0

    unsigned oh = 0;
RowLoop:
    for (unsigned r = 0; r < CONFIG_T::in_height; r++) {
        const int top = smp_window_start(oh, CONFIG_T::stride_height, CONFIG_T::pad_top);
        const bool row_emit =
            oh < CONFIG_T::out_height &&
            int(r) == smp_window_end(oh, CONFIG_T::stride_height, CONFIG_T::pad_top, KH, CONFIG_T::in_height);
        const unsigned n_rows = unsigned(int(r) - (top > 0 ? top : 0) + 1); // rows r-n_rows+1 .. r
        unsigned ow = 0;
    ColLoop:
        for (unsigned c = 0; c < CONFIG_T::in_width; c++) {
            #pragma HLS PIPELINE II=1
            const data_T in_elem = data.read();

            accum_t col_sum[CONFIG_T::n_chan];
            #pragma HLS ARRAY_PARTITION variable=col_sum complete
            for (unsigned ch = 0; ch < CONFIG_T::n_chan; ch++) {
                #pragma HLS UNROLL
                col_sum[ch] = in_elem[ch];
            }
            if (KH > 1) {
                for (unsigned k = 0; k < KH - 1; k++) {
                    #pragma HLS UNROLL
                    const data_T prev = line_buf[k][c];
                    if (k + 1 < n_rows) {
                        for (unsigned ch = 0; ch < CONFIG_T::n_chan; ch++) {
                            #pragma HLS UNROLL
                            col_sum[ch] += prev[ch];
                        }
                    }
                }
                for (int k = int(KH) - 2; k > 0; k--) {
                    #pragma HLS UNROLL
                    line_buf[k][c] = line_buf[k - 1][c];
                }
                line_buf[0][c] = in_elem;
            }

            for (int j = int(KW) - 1; j > 0; j--) {
                #pragma HLS UNROLL
                for (unsigned ch = 0; ch < CONFIG_T::n_chan; ch++) {
                    #pragma HLS UNROLL
                    col_win[j][ch] = col_win[j - 1][ch];
                }
            }
            for (unsigned ch = 0; ch < CONFIG_T::n_chan; ch++) {
                #pragma HLS UNROLL
                col_win[0][ch] = col_sum[ch];
            }

            if (row_emit && ow < CONFIG_T::out_width &&
                int(c) == smp_window_end(ow, CONFIG_T::stride_width, CONFIG_T::pad_left, KW, CONFIG_T::in_width)) {
                const int left = smp_window_start(ow, CONFIG_T::stride_width, CONFIG_T::pad_left);
                const unsigned n_cols = unsigned(int(c) - (left > 0 ? left : 0) + 1);
                const unsigned n_cells = n_rows * n_cols;
                res_T out_elem;
                PRAGMA_DATA_PACK(out_elem)
                for (unsigned ch = 0; ch < CONFIG_T::n_chan; ch++) {
                    #pragma HLS UNROLL
                    accum_t s = col_win[0][ch];
                    for (unsigned j = 1; j < KW; j++) {
                        #pragma HLS UNROLL
                        if (j < n_cols)
                            s += col_win[j][ch];
                    }
                    out_elem[ch] = exact_window_mean<typename res_T::value_type, CONFIG_T>(s, n_cells);
                }
                res.write(out_elem);
                ow++;
            }
        }
        if (row_emit)
            oh++;
    }
}

} // namespace nnet

#endif
