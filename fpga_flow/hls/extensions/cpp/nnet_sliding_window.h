// fpga_flow extension: sliding-window generator (SWG) for io_stream convolutions, one input pixel
// per clock. With nnet_stream_mvu.h it splits a KxK convolution the way FINN does: this process
// turns the pixel stream into a stream of windows, the matrix-vector unit multiplies each window
// by the weights in reuse_factor clocks. The two are separate dataflow processes (the written
// project's top function calls both), so the pixel loop here never waits for a multiplication.
//
// Input: in_height x in_width pixels of n_chan values (padding already applied by a ZeroPadding2D
// node before it). Output: out_height x out_width windows of filt_height*filt_width*n_chan values,
// ordered (kh, kw, c) row-major, the order tf.image.extract_patches and the convolution's weights
// (hls4ml's Resource layout w[o][kh][kw][c]) use.
//
// Structure (synthesizable):
//   * a line buffer of the previous filt_height-1 input rows, one packed word (all channels) per
//     column: filt_height-1 row memories of depth in_width, bound to LUTRAM (simple dual port; the
//     plan counts them as LUTRAM, fpga-flow audit checks the binding line);
//   * a window register of filt_height x filt_width pixels, shifted one column per input pixel;
//   * one flattened loop over all in_height*in_width pixels, pipelined at II=1: read a pixel, shift
//     the window, update the line buffer column, and write the window when this pixel closes a
//     window at the stride. Cycles per frame: in_height*in_width (+ the pipeline depth), whatever
//     the stride or kernel size (fpga_flow/resources/estimate.py, sliding_window).
// Copying values is exact: the output type is the input type.
#ifndef NNET_SLIDING_WINDOW_H_
#define NNET_SLIDING_WINDOW_H_

#include "hls_stream.h"
#include "nnet_common.h"

namespace nnet {

struct sliding_window2d_config {
    static const unsigned in_height = 1;
    static const unsigned in_width = 1;
    static const unsigned n_chan = 1;
    static const unsigned filt_height = 1;
    static const unsigned filt_width = 1;
    static const unsigned stride_height = 1;
    static const unsigned stride_width = 1;
    static const unsigned out_height = 1;
    static const unsigned out_width = 1;
};

template <class data_T, class res_T, typename CONFIG_T>
void sliding_window2d_cl(hls::stream<data_T> &data, hls::stream<res_T> &res) {
    static const unsigned KH = CONFIG_T::filt_height;
    static const unsigned KW = CONFIG_T::filt_width;
    static const unsigned C = CONFIG_T::n_chan;
    static const unsigned W = CONFIG_T::in_width;
    static const unsigned LB_ROWS = KH > 1 ? KH - 1 : 1;

    // line_buf[k][c] holds input row (r-1-k), column c.
    static data_T line_buf[LB_ROWS][W];
    #pragma HLS ARRAY_PARTITION variable=line_buf complete dim=1
    // the plan keeps the row memories in LUTRAM (fpga_flow/resources/estimate.py; fpga-flow audit checks
    // this line): one pixel word of all channels is read and written per clock (simple dual port)
#ifdef __VITIS_HLS__
    #pragma HLS bind_storage variable=line_buf type=ram_s2p impl=lutram
#else
    #pragma HLS RESOURCE variable=line_buf core=RAM_S2P_LUTRAM
#endif
    // win[kh][kw] holds pixel (r-KH+1+kh, c-KW+1+kw) after pixel (r, c) is read.
    data_T win[KH][KW];
    #pragma HLS ARRAY_PARTITION variable=win complete dim=0

    unsigned r = 0, c = 0;       // position of the pixel being read
    unsigned r_phase = 0;        // rows since the last window row (mod stride), valid once r >= KH-1
    unsigned c_phase = 0;        // columns since the last window column (mod stride), once c >= KW-1
PixelLoop:
    for (unsigned p = 0; p < CONFIG_T::in_height * CONFIG_T::in_width; p++) {
        #pragma HLS PIPELINE II=1
        const data_T px = data.read();

        for (unsigned kh = 0; kh < KH; kh++) {
            #pragma HLS UNROLL
            for (unsigned kw = 0; kw + 1 < KW; kw++) {
                #pragma HLS UNROLL
                win[kh][kw] = win[kh][kw + 1];
            }
        }
        if (KH > 1) {
            for (unsigned kh = 0; kh + 1 < KH; kh++) {
                #pragma HLS UNROLL
                win[kh][KW - 1] = line_buf[KH - 2 - kh][c];
            }
            for (int k = int(KH) - 2; k > 0; k--) {
                #pragma HLS UNROLL
                line_buf[k][c] = line_buf[k - 1][c];
            }
            line_buf[0][c] = px;
        }
        win[KH - 1][KW - 1] = px;

        if (r >= KH - 1 && c >= KW - 1 && r_phase == 0 && c_phase == 0) {
            res_T out_elem;
            PRAGMA_DATA_PACK(out_elem)
            for (unsigned kh = 0; kh < KH; kh++) {
                #pragma HLS UNROLL
                for (unsigned kw = 0; kw < KW; kw++) {
                    #pragma HLS UNROLL
                    for (unsigned ch = 0; ch < C; ch++) {
                        #pragma HLS UNROLL
                        out_elem[(kh * KW + kw) * C + ch] = win[kh][kw][ch];
                    }
                }
            }
            res.write(out_elem);
        }

        // advance (r, c) and the stride phases
        if (c >= KW - 1)
            c_phase = (c_phase + 1 == CONFIG_T::stride_width) ? 0 : c_phase + 1;
        if (c + 1 == W) {
            c = 0;
            c_phase = 0;
            if (r >= KH - 1)
                r_phase = (r_phase + 1 == CONFIG_T::stride_height) ? 0 : r_phase + 1;
            r++;
        } else {
            c++;
        }
    }
}

} // namespace nnet

#endif
