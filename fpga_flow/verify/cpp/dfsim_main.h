// Process runner and main() for the dataflow C-simulation (fpga_flow/verify/dataflow.py).
//
// The generated dfsim_network.cpp defines dfsim_network(n_images, x, y, report): it declares the
// top function's streams with their planned depths (or the overrides read here), then hands one
// Proc per dataflow process (each nnet:: call of the top function, looped over the images, plus
// an input feeder and an output drain) to dfsim::run_processes.
//
//     dfsim DEPTHS.txt X.bin N_IMAGES Y.bin REPORT.json
//
// DEPTHS.txt: "stream depth" lines (overrides); X.bin: N*n_in doubles; Y.bin: N*n_out doubles.
// Exit status 0 for a completed run and for a detected deadlock (REPORT.json says which).
#ifndef FPGA_FLOW_DFSIM_MAIN_H
#define FPGA_FLOW_DFSIM_MAIN_H

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "hls_stream.h"

namespace dfsim {

struct Proc {
    std::string name;
    std::function<void()> body;
};

inline double now_s() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

inline std::string json_str(const std::string &s) {
    std::string o = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\')
            o += '\\';
        o += c;
    }
    return o + "\"";
}

inline void write_report(const std::string &path, bool completed, double seconds, int n_procs) {
    Runtime &r = rt();
    std::lock_guard<std::mutex> lk(r.m);
    std::ofstream f(path);
    f << "{\"completed\": " << (completed ? "true" : "false") << ", \"deadlock\": " << (r.deadlock ? "true" : "false")
      << ", \"seconds\": " << seconds << ", \"processes\": " << n_procs << ", \"stream_ops\": " << r.ops
      << ", \"waits\": [";
    for (std::size_t i = 0; i < r.waits.size(); i++)
        f << (i ? ", " : "") << "{\"process\": " << json_str(r.waits[i].process)
          << ", \"stream\": " << json_str(r.waits[i].stream) << ", \"op\": " << json_str(r.waits[i].op) << "}";
    f << "], \"streams\": {";
    for (std::size_t i = 0; i < r.streams.size(); i++) {
        StreamBase *s = r.streams[i];
        f << (i ? ", " : "") << json_str(s->name) << ": {\"depth\": " << s->capacity
          << ", \"max_occupancy\": " << s->max_occupancy << ", \"items\": " << s->writes
          << ", \"left\": " << s->occupancy() << "}";
    }
    f << "}}\n";
}

// Runs every process in its own thread; returns when all finished (true) or on deadlock (false:
// the blocked threads are left waiting; the caller writes its report and exits).
inline bool run_processes(std::vector<Proc> &procs) {
    Runtime &r = rt();
    {
        std::lock_guard<std::mutex> lk(r.m);
        r.live = (int)procs.size();
    }
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < procs.size(); i++) {
        Proc *p = &procs[i];
        threads.emplace_back([p, &r] {
            current_process() = p->name;
            p->body();
            std::lock_guard<std::mutex> lk(r.m);
            r.live--;
            check_deadlock_locked();  // a reader left waiting for data nobody will write
            if (r.live == 0)
                r.main_cv.notify_all();
        });
    }
    bool ok;
    {
        std::unique_lock<std::mutex> lk(r.m);
        r.main_cv.wait(lk, [&r] { return r.deadlock || r.live == 0; });
        ok = !r.deadlock;
    }
    for (auto &t : threads) {
        if (ok)
            t.join();
        else
            t.detach();
    }
    return ok;
}

} // namespace dfsim

void dfsim_network(int n_images, const double *x, double *y, std::vector<dfsim::Proc> &procs, const char *report);

int main(int argc, char **argv) {
    if (argc != 6) {
        std::cerr << "usage: dfsim DEPTHS.txt X.bin N_IMAGES Y.bin REPORT.json" << std::endl;
        return 2;
    }
    {
        std::ifstream d(argv[1]);
        std::string name;
        long depth;
        while (d >> name >> depth)
            dfsim::rt().depths[name] = depth;
    }
    int n = std::atoi(argv[3]);
    std::vector<double> x, y;
    {
        std::ifstream xf(argv[2], std::ios::binary | std::ios::ate);
        std::streamsize bytes = xf.tellg();
        xf.seekg(0);
        x.resize(bytes / sizeof(double));
        xf.read(reinterpret_cast<char *>(x.data()), bytes);
    }
    std::vector<dfsim::Proc> procs;
    y.resize((std::size_t)n * DFSIM_N_OUT);
    double t0 = dfsim::now_s();
    dfsim_network(n, x.data(), y.data(), procs, argv[5]);
    bool ok = dfsim::run_processes(procs);
    dfsim::write_report(argv[5], ok, dfsim::now_s() - t0, (int)procs.size());
    if (ok) {
        std::ofstream yf(argv[4], std::ios::binary);
        yf.write(reinterpret_cast<const char *>(y.data()), y.size() * sizeof(double));
    }
    std::cout.flush();
    std::_Exit(0);  // blocked threads (deadlock) must not be joined; stream destructors not needed
}

#endif
