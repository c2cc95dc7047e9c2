// fpga_flow extension: max pooling with any pool size, stride and Keras padding ('valid' or 'same')
// in io_stream, e.g. SqueezeNet/ShuffleNet's overlapping 3x3 stride-2 pooling, which stock hls4ml
// 1.3.0 rejects (it asserts pool == stride and no padding).
//
// Structure (synthesizable, one input pixel per clock):
//   * a line buffer of the previous pool_height-1 input rows, one packed word (all channels) per
//     column: pool_height-1 memories of depth in_width;
//   * per input pixel, the maximum down its column over the rows of the output row that ends at
//     this input row (padded rows are excluded, as Keras pads max pooling with -inf);
//   * a shift register of the last pool_width column maxima; when the pixel closes an output
//     window, the maximum over its valid columns is written.
// Max is exact in the input type, so the output type equals the input type.
#ifndef NNET_STREAM_MAXPOOL_H_
#define NNET_STREAM_MAXPOOL_H_

#include "hls_stream.h"
#include "nnet_common.h"

namespace nnet {

struct stream_maxpool2d_config {
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
};

// First input index covered by output index o (may be negative: padding).
inline int smp_window_start(unsigned o, unsigned stride, unsigned pad) { return int(o * stride) - int(pad); }

// Last input index covered by output index o, clipped to the input.
inline int smp_window_end(unsigned o, unsigned stride, unsigned pad, unsigned pool, unsigned n_in) {
    int e = smp_window_start(o, stride, pad) + int(pool) - 1;
    return e < int(n_in) - 1 ? e : int(n_in) - 1;
}

// Line-buffer window engine shared by the pooling extensions (max here, exact average in
// nnet_exact_avgpool.h). OP reduces the window cells inside the map:
//   typedef ... acc_t;                          per-channel partial result
//   static acc_t first(value_t v);              the current pixel's cell
//   static acc_t add(acc_t a, value_t/acc_t b); fold in one more cell / column
//   static out_t finish(acc_t a, unsigned n);   n = number of cells in the window (padding excluded)
template <class data_T, class res_T, typename CONFIG_T, class OP>
void stream_window2d_cl(hls::stream<data_T> &data, hls::stream<res_T> &res) {
    typedef typename OP::acc_t acc_t;
    static const unsigned KH = CONFIG_T::pool_height;
    static const unsigned KW = CONFIG_T::pool_width;
    static const unsigned LB_ROWS = KH > 1 ? KH - 1 : 1;

    // line_buf[k][c] holds input row (r-1-k), column c.
    static data_T line_buf[LB_ROWS][CONFIG_T::in_width];
    #pragma HLS ARRAY_PARTITION variable=line_buf complete dim=1
    // the plan keeps the row memories in LUTRAM (fpga_flow/resources/memory.py; fpga-flow audit checks
    // this line): one pixel word of all channels is read and written per clock (simple dual port)
#ifdef __VITIS_HLS__
    #pragma HLS bind_storage variable=line_buf type=ram_s2p impl=lutram
#else
    #pragma HLS RESOURCE variable=line_buf core=RAM_S2P_LUTRAM
#endif
    // col_win[j] holds the reduction down column (c-j) over the rows of the current output row.
    static acc_t col_win[KW][CONFIG_T::n_chan];
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

            acc_t col[CONFIG_T::n_chan];
            #pragma HLS ARRAY_PARTITION variable=col complete
            for (unsigned ch = 0; ch < CONFIG_T::n_chan; ch++) {
                #pragma HLS UNROLL
                col[ch] = OP::first(in_elem[ch]);
            }
            if (KH > 1) {
                for (unsigned k = 0; k < KH - 1; k++) {
                    #pragma HLS UNROLL
                    const data_T prev = line_buf[k][c];
                    if (k + 1 < n_rows) { // rows above the window (or above the map) are not cells
                        for (unsigned ch = 0; ch < CONFIG_T::n_chan; ch++) {
                            #pragma HLS UNROLL
                            col[ch] = OP::add(col[ch], prev[ch]);
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
                col_win[0][ch] = col[ch];
            }

            if (row_emit && ow < CONFIG_T::out_width &&
                int(c) == smp_window_end(ow, CONFIG_T::stride_width, CONFIG_T::pad_left, KW, CONFIG_T::in_width)) {
                const int left = smp_window_start(ow, CONFIG_T::stride_width, CONFIG_T::pad_left);
                const unsigned n_cols = unsigned(int(c) - (left > 0 ? left : 0) + 1);
                res_T out_elem;
                PRAGMA_DATA_PACK(out_elem)
                for (unsigned ch = 0; ch < CONFIG_T::n_chan; ch++) {
                    #pragma HLS UNROLL
                    acc_t a = col_win[0][ch];
                    for (unsigned j = 1; j < KW; j++) {
                        #pragma HLS UNROLL
                        if (j < n_cols)
                            a = OP::add(a, col_win[j][ch]);
                    }
                    out_elem[ch] = OP::finish(a, n_rows * n_cols);
                }
                res.write(out_elem);
                ow++;
            }
        }
        if (row_emit)
            oh++;
    }
}

// Max is exact in the input type, so the output type equals the input type.
template <class value_t> struct window_max_op {
    typedef value_t acc_t;
    static acc_t first(value_t v) { return v; }
    static acc_t add(acc_t a, acc_t b) { return b > a ? b : a; }
    static value_t finish(acc_t a, unsigned) { return a; }
};

template <class data_T, class res_T, typename CONFIG_T>
void stream_maxpool2d_cl(hls::stream<data_T> &data, hls::stream<res_T> &res) {
    stream_window2d_cl<data_T, res_T, CONFIG_T, window_max_op<typename data_T::value_type> >(data, res);
}

} // namespace nnet

#endif
