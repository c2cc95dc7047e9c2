// Bounded, blocking hls::stream for the dataflow C-simulation (fpga_flow/verify/dataflow.py).
//
// It shadows ap_types/hls_stream.h (put this directory first on the include path) and defines the
// same include guard, so the Xilinx model is never pulled in as well.
//
// * A stream given a depth (set_depth(n), n >= 1) holds at most n items: write() blocks while it
//   is full, read() blocks while it is empty. A stream never given a depth (the locals some nnet
//   functions use inside one process) is unbounded, like the Xilinx C model.
// * Every stream operation takes one global mutex, so the state of the whole network is
//   consistent when a thread blocks. `blocked` counts the process threads that wait on a stream;
//   the thread that satisfies a waiter (a write to an empty stream, a read from a full one) takes
//   it off the count itself, so blocked == live means exactly: every live process waits on a
//   condition no running process can make true - a deadlock. The blocked waits are recorded and
//   the main thread is woken.
// * max_occupancy per stream is recorded (the items it held at most after a write).
#ifndef X_HLS_STREAM_SIM_H
#define X_HLS_STREAM_SIM_H
#define FPGA_FLOW_DATAFLOW_STREAM_H

#include <condition_variable>
#include <cstddef>
#include <cstdio>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace dfsim {

struct StreamBase;

struct Wait {
    std::string process, stream, op;  // op: "write" (stream full) or "read" (stream empty)
};

struct Runtime {
    std::mutex m;
    std::condition_variable main_cv;
    int live = 0;
    int blocked = 0;
    bool deadlock = false;
    unsigned long long ops = 0;
    std::vector<StreamBase *> streams;
    std::map<std::string, long> depths;  // overrides, read from a file before the run
    std::vector<Wait> waits;
};

inline Runtime &rt() {
    static Runtime r;
    return r;
}

inline std::string &current_process() {
    static thread_local std::string name = "main";
    return name;
}

struct StreamBase {
    std::string name;
    std::size_t capacity = 0;  // 0: unbounded
    std::size_t max_occupancy = 0;
    unsigned long long writes = 0;
    bool registered = false;
    bool reader_waiting = false, writer_waiting = false;
    std::string reader_name, writer_name;
    std::condition_variable not_empty, not_full;
    virtual std::size_t occupancy() const = 0;
    virtual ~StreamBase() {}
};

// call with rt().m held, after incrementing blocked (or decrementing live)
inline void check_deadlock_locked() {
    Runtime &r = rt();
    if (r.deadlock || r.live <= 0 || r.blocked < r.live)
        return;
    r.deadlock = true;
    for (StreamBase *s : r.streams) {
        if (s->writer_waiting)
            r.waits.push_back({s->writer_name, s->name, "write"});
        if (s->reader_waiting)
            r.waits.push_back({s->reader_name, s->name, "read"});
    }
    r.main_cv.notify_all();
}

inline long depth_of(const std::string &name, long planned) {
    Runtime &r = rt();
    auto it = r.depths.find(name);
    return it == r.depths.end() ? planned : it->second;
}

} // namespace dfsim

namespace hls {

template <typename T> class stream : public dfsim::StreamBase {
    std::deque<T> q;

  public:
    stream() { name = "hls_stream"; }
    stream(const char *n) { name = n; }
    stream(const std::string &n) { name = n; }
    stream(const stream &) = delete;
    stream &operator=(const stream &) = delete;
    ~stream() {
        std::lock_guard<std::mutex> lk(dfsim::rt().m);
        auto &v = dfsim::rt().streams;
        for (std::size_t i = 0; i < v.size(); i++)
            if (v[i] == this) {
                v.erase(v.begin() + i);
                break;
            }
    }

    // bound the stream to n items and register it for the deadlock report
    void set_depth(long n) {
        std::lock_guard<std::mutex> lk(dfsim::rt().m);
        capacity = n > 0 ? (std::size_t)n : 0;
        if (!registered) {
            dfsim::rt().streams.push_back(this);
            registered = true;
        }
    }

    std::size_t occupancy() const override { return q.size(); }

    void write(const T &x) {
        dfsim::Runtime &r = dfsim::rt();
        std::unique_lock<std::mutex> lk(r.m);
        while (capacity && q.size() >= capacity) {
            writer_waiting = true;
            writer_name = dfsim::current_process();
            r.blocked++;
            dfsim::check_deadlock_locked();
            while (writer_waiting)
                not_full.wait(lk);  // the reader clears writer_waiting (and the blocked count)
        }
        q.push_back(x);
        writes++;
        r.ops++;
        if (q.size() > max_occupancy)
            max_occupancy = q.size();
        if (reader_waiting) {
            reader_waiting = false;
            r.blocked--;
            not_empty.notify_one();
        }
    }

    T read() {
        dfsim::Runtime &r = dfsim::rt();
        std::unique_lock<std::mutex> lk(r.m);
        while (q.empty()) {
            reader_waiting = true;
            reader_name = dfsim::current_process();
            r.blocked++;
            dfsim::check_deadlock_locked();
            while (reader_waiting)
                not_empty.wait(lk);
        }
        T x = q.front();
        q.pop_front();
        r.ops++;
        if (writer_waiting) {
            writer_waiting = false;
            r.blocked--;
            not_full.notify_one();
        }
        return x;
    }

    void read(T &x) { x = read(); }
    void operator>>(T &x) { x = read(); }
    void operator<<(const T &x) { write(x); }

    bool empty() {
        std::lock_guard<std::mutex> lk(dfsim::rt().m);
        return q.empty();
    }
    bool full() {
        std::lock_guard<std::mutex> lk(dfsim::rt().m);
        return capacity && q.size() >= capacity;
    }
    std::size_t size() {
        std::lock_guard<std::mutex> lk(dfsim::rt().m);
        return q.size();
    }
    bool read_nb(T &x) {
        {
            std::lock_guard<std::mutex> lk(dfsim::rt().m);
            if (q.empty())
                return false;
        }
        x = read();  // single reader: still non-empty
        return true;
    }
    bool write_nb(const T &x) {
        {
            std::lock_guard<std::mutex> lk(dfsim::rt().m);
            if (capacity && q.size() >= capacity)
                return false;
        }
        write(x);
        return true;
    }
};

} // namespace hls

#endif
