// fpga_flow extension: ShuffleNet channel shuffle in io_stream.
//
// Output channel o = k*groups + grp takes input channel grp*(n_chan/groups) + k. Each stream word
// is one pixel with all channels, so this is a compile-time permutation of the word's fields:
// wires only, one pixel per clock, no buffer (unlike a Reshape/Permute/Reshape Transpose).
#ifndef NNET_CHANNEL_SHUFFLE_H_
#define NNET_CHANNEL_SHUFFLE_H_

#include "hls_stream.h"
#include "nnet_common.h"

namespace nnet {

struct channel_shuffle_config {
    static const unsigned n_pixels = 1;
    static const unsigned n_chan = 1;
    static const unsigned groups = 1;
};

template <class data_T, class res_T, typename CONFIG_T>
void channel_shuffle_cl(hls::stream<data_T> &data, hls::stream<res_T> &res) {
    static const unsigned PER_GROUP = CONFIG_T::n_chan / CONFIG_T::groups;
PixelLoop:
    for (unsigned p = 0; p < CONFIG_T::n_pixels; p++) {
        #pragma HLS PIPELINE II=1
        const data_T in_elem = data.read();
        res_T out_elem;
        PRAGMA_DATA_PACK(out_elem)
    ChanLoop:
        for (unsigned o = 0; o < CONFIG_T::n_chan; o++) {
            #pragma HLS UNROLL
            out_elem[o] = in_elem[(o % CONFIG_T::groups) * PER_GROUP + o / CONFIG_T::groups];
        }
        res.write(out_elem);
    }
}

} // namespace nnet

#endif
