// fpga_flow extension: grouped 1x1 convolution in io_stream (ShuffleNet's group convolutions).
//
// Stores only the g diagonal blocks: n_weights = n_in_g * n_out (= n_in * n_out / groups), laid
// out output-major, w[o*n_in_g + i] for input channel group(o)*n_in_g + i and output channel o.
// Output groups: the first n_big groups have out_g_big outputs, the others out_g_big - 1 (equal
// sizes when n_big == groups). For weight index k: output = k / n_in_g, input =
// group(output)*n_in_g + k % n_in_g.
//
// Structure (as hls4ml's Resource dense): per pixel, reuse_factor pipelined cycles (II=1), each
// doing block_factor = n_weights / reuse_factor multiplications in parallel; the weight ROM is
// reshaped so that cycle ir reads one word {w[ir], w[ir + RF], ..., w[ir + (block_factor-1)*RF]},
// i.e. a ROM of reuse_factor words of block_factor weights. When reuse_factor <= n_in_g (and
// divides it, hls4ml's validity rule) each multiplier always feeds the same output and reads the
// input through a reuse_factor-way multiplexer. Products and the bias are accumulated exactly in
// accum_t; the result type is set by the precision pass to hold the exact sum.
#ifndef NNET_GROUPED_POINTWISE_H_
#define NNET_GROUPED_POINTWISE_H_

#include "hls_stream.h"
#include "nnet_common.h"

namespace nnet {

struct grouped_pointwise_config {
    static const unsigned n_pixels = 1;
    static const unsigned n_in = 1;
    static const unsigned n_out = 1;
    static const unsigned groups = 1;
    static const unsigned n_in_g = 1;
    static const unsigned n_big = 1;
    static const unsigned out_g_big = 1;
    static const unsigned n_weights = 1;
    static const unsigned reuse_factor = 1;
    static const unsigned block_factor = 1;
    typedef ap_fixed<32, 16> accum_t;
    typedef ap_fixed<8, 1> weight_t;
    typedef ap_fixed<8, 4> bias_t;
};

template <typename CONFIG_T> inline unsigned grouped_output_group(unsigned o) {
    #pragma HLS INLINE
    static const unsigned SPLIT = CONFIG_T::n_big * CONFIG_T::out_g_big;
    return o < SPLIT ? o / CONFIG_T::out_g_big : CONFIG_T::n_big + (o - SPLIT) / (CONFIG_T::out_g_big - 1);
}

template <class data_T, class res_T, typename CONFIG_T>
void grouped_pointwise_conv_cl(hls::stream<data_T> &data, hls::stream<res_T> &res,
                               typename CONFIG_T::weight_t weights[CONFIG_T::n_weights],
                               typename CONFIG_T::bias_t biases[CONFIG_T::n_out]) {
    static const unsigned RF = CONFIG_T::reuse_factor;
    static const unsigned BF = CONFIG_T::block_factor;
    #pragma HLS ARRAY_RESHAPE variable=weights block factor=BF
    #pragma HLS ARRAY_PARTITION variable=biases complete

PixelLoop:
    for (unsigned p = 0; p < CONFIG_T::n_pixels; p++) {
        const data_T in_elem = data.read();
        typename data_T::value_type in_vals[CONFIG_T::n_in];
        #pragma HLS ARRAY_PARTITION variable=in_vals complete
        for (unsigned i = 0; i < CONFIG_T::n_in; i++) {
            #pragma HLS UNROLL
            in_vals[i] = in_elem[i];
        }

        typename CONFIG_T::accum_t acc[CONFIG_T::n_out];
        #pragma HLS ARRAY_PARTITION variable=acc complete
    InitLoop:
        for (unsigned o = 0; o < CONFIG_T::n_out; o++) {
            #pragma HLS UNROLL
            acc[o] = (typename CONFIG_T::accum_t)biases[o];
        }

    ReuseLoop:
        for (unsigned ir = 0; ir < RF; ir++) {
            #pragma HLS PIPELINE II=1
        MultLoop:
            for (unsigned im = 0; im < BF; im++) {
                #pragma HLS UNROLL
                const unsigned k = ir + im * RF;
                if (k < CONFIG_T::n_weights) {
                    const unsigned o = k / CONFIG_T::n_in_g;
                    const unsigned i = grouped_output_group<CONFIG_T>(o) * CONFIG_T::n_in_g + k % CONFIG_T::n_in_g;
                    acc[o] += (typename CONFIG_T::accum_t)(in_vals[i] * weights[k]);
                }
            }
        }

        res_T out_elem;
        PRAGMA_DATA_PACK(out_elem)
    CastLoop:
        for (unsigned o = 0; o < CONFIG_T::n_out; o++) {
            #pragma HLS UNROLL
            out_elem[o] = (typename res_T::value_type)acc[o];
        }
        res.write(out_elem);
    }
}

} // namespace nnet

#endif
