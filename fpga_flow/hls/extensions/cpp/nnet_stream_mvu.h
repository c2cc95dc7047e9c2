// fpga_flow extension: matrix-vector unit (MVU) for io_stream convolutions: every item of the input
// stream (a pixel for a 1x1 convolution, a window of nnet_sliding_window.h for a KxK one) is
// multiplied by the n_in x n_out weight matrix in reuse_factor clocks, back to back.
//
// Folding (FINN's MVAU): the matrix is cut into nf output folds of pe outputs and sf input folds of
// simd inputs; every clock one (output fold, input fold) pair is done by pe x simd multipliers, so an
// item takes reuse_factor = nf * sf clocks. The plan picks reuse_factor; the folding with the fewest
// multipliers for it is fpga_flow/resources/estimate.py, mvu_fold. Where simd or pe divides neither
// n_in nor n_out, the matrix is padded with zero weights (their products are exact zeros, padded outputs
// are not written). With pe = n_out it is hls4ml's Resource dense; with simd = 1, its reuse_factor > n_in.
//
// Weights: a ROM of reuse_factor words of block_factor = simd * pe weights: word ir = f * sf + i holds
// w[f*pe + p][i*simd + s] at element p*simd + s, i.e. array index ir + reuse_factor * (p*simd + s)
// (the layout fpga_flow/hls/extensions/stream_conv.py writes; the array is reshaped with that block
// factor here and, with the plan's binding, in the top function).
// Depthwise (depthwise = true): the same unit on the windows of a depthwise convolution, n_in = K*K taps
// per output channel, n_out = channels; output c's tap k multiplies window value k*n_out + c.
// Grouped (groups > 1): a grouped 1x1 convolution storing only its diagonal blocks, n_in = inputs per
// group; output o multiplies input channel group(o)*n_in + i.
// Products and the bias are accumulated exactly in accum_t (sized by the precision pass), then cast
// to the result type once, as hls4ml's dense_resource does: the codes are identical.
//
// Structure (synthesizable): ONE loop over n_items * reuse_factor cycles, pipelined at II=1 (a
// flattened item x fold loop): the item is read in its first cycle and held, every cycle reads one ROM
// word and does simd * pe multiplications into pe accumulators, the last input fold of an output fold
// casts them into the output item, the item's last cycle writes it. Unlike hls4ml's conv kernel, whose
// pixel loop is not pipelined (per item reuse_factor + ~5 cycles, and ~4 for a pixel that completes
// no window), no cycle is spent between items. Cycles per frame: n_items * reuse_factor + the
// pipeline depth (fpga_flow/resources/estimate.py, mvu).
#ifndef NNET_STREAM_MVU_H_
#define NNET_STREAM_MVU_H_

#include "hls_stream.h"
#include "nnet_common.h"

namespace nnet {

// The group of output o of a grouped MVU (the first n_big groups have out_g_big outputs, then one fewer).
template <typename CONFIG_T> inline unsigned mvu_output_group(unsigned o) {
    #pragma HLS INLINE
    static const unsigned SPLIT = CONFIG_T::n_big * CONFIG_T::out_g_big;
    return o < SPLIT ? o / CONFIG_T::out_g_big : CONFIG_T::n_big + (o - SPLIT) / (CONFIG_T::out_g_big > 1 ? CONFIG_T::out_g_big - 1 : 1);
}

struct stream_mvu_config {
    static const unsigned n_items = 1;      // items (pixels or windows) per frame
    static const unsigned n_in = 1;         // values per input item
    static const unsigned n_out = 1;        // values per output item
    static const bool depthwise = false;    // true: a depthwise conv on windows, output c reads tap*n_out + c
    static const unsigned groups = 1;       // > 1: a grouped 1x1 conv, output o reads group(o)*n_in + i
    static const unsigned n_big = 1;        //   the first n_big groups have out_g_big outputs,
    static const unsigned out_g_big = 1;    //   the others out_g_big - 1 (numpy.array_split)
    static const unsigned simd = 1;         // inputs per input fold
    static const unsigned pe = 1;           // outputs per output fold
    static const unsigned sf = 1;           // input folds: simd * sf >= n_in
    static const unsigned nf = 1;           // output folds: pe * nf >= n_out
    static const unsigned reuse_factor = 1; // sf * nf
    static const unsigned block_factor = 1; // simd * pe
    typedef ap_fixed<32, 16> accum_t;
    typedef ap_fixed<8, 1> weight_t;
    typedef ap_fixed<8, 4> bias_t;
};

template <class data_T, class res_T, typename CONFIG_T>
void stream_mvu_cl(hls::stream<data_T> &data, hls::stream<res_T> &res,
                   typename CONFIG_T::weight_t weights[CONFIG_T::reuse_factor * CONFIG_T::block_factor],
                   typename CONFIG_T::bias_t biases[CONFIG_T::n_out]) {
    static const unsigned RF = CONFIG_T::reuse_factor;
    static const unsigned BF = CONFIG_T::block_factor;
    static const unsigned SIMD = CONFIG_T::simd;
    static const unsigned PE = CONFIG_T::pe;
    static const unsigned SF = CONFIG_T::sf;
    static const unsigned NF = CONFIG_T::nf;
    static const unsigned N_IN = CONFIG_T::n_in;
    static const unsigned N_OUT = CONFIG_T::n_out;
    typedef typename CONFIG_T::accum_t accum_t;
    #pragma HLS ARRAY_RESHAPE variable=weights block factor=BF
    #pragma HLS ARRAY_PARTITION variable=biases complete

    data_T in_elem;   // the item being multiplied, held for RF cycles
    res_T out_elem;   // the output item, filled one output fold at a time
    PRAGMA_DATA_PACK(out_elem)
    accum_t acc[PE];  // the current output fold
    #pragma HLS ARRAY_PARTITION variable=acc complete
    unsigned ir = 0; // cycle within the item (= ROM word) = f * SF + i
    unsigned i = 0;  // input fold
    unsigned f = 0;  // output fold
ItemLoop:
    for (unsigned t = 0; t < CONFIG_T::n_items * RF; t++) {
        #pragma HLS PIPELINE II=1
        if (ir == 0)
            in_elem = data.read();
    FoldLoop:
        for (unsigned p = 0; p < PE; p++) {
            #pragma HLS UNROLL
            const unsigned o = f * PE + p;
            accum_t a = i == 0 ? (o < N_OUT ? (accum_t)biases[o < N_OUT ? o : 0] : (accum_t)0) : acc[p];
            for (unsigned s = 0; s < SIMD; s++) {
                #pragma HLS UNROLL
                const unsigned x = i * SIMD + s; // the product's input (depthwise: its tap)
                // a padded input (x >= n_in, or a padded output) has a zero weight: any value gives an exact 0
                const unsigned xc = x < N_IN ? x : N_IN - 1;
                const unsigned oc = o < N_OUT ? o : N_OUT - 1;
                const unsigned xi = CONFIG_T::depthwise ? xc * N_OUT + oc
                                    : CONFIG_T::groups > 1 ? mvu_output_group<CONFIG_T>(oc) * N_IN + xc : xc;
                a += (accum_t)(in_elem[xi] * weights[ir + RF * (p * SIMD + s)]);
            }
            acc[p] = a;
            if (i == SF - 1 && o < N_OUT)
                out_elem[o < N_OUT ? o : 0] = (typename res_T::value_type)a;
        }
        if (ir == RF - 1)
            res.write(out_elem);
        // advance (ir, i, f)
        if (i + 1 == SF) {
            i = 0;
            f = (f + 1 == NF) ? 0 : f + 1;
        } else {
            i++;
        }
        ir = (ir + 1 == RF) ? 0 : ir + 1;
    }
}

} // namespace nnet

#endif
