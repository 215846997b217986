// bench_util.cpp - clocks, /proc readers, counters, running a benchmark body in a loop's main
// task, and running a child process with a timeout.
#include "bench.hpp"

#include "taskring.h"

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace trb {

Options g_opt;

uint64_t now_ns() {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

MemSize read_statm() {
    MemSize m;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return m;
    unsigned long vsz = 0, rss = 0;
    if (fscanf(f, "%lu %lu", &vsz, &rss) == 2) {
        double page = double(sysconf(_SC_PAGESIZE));
        m.vsz = double(vsz) * page;
        m.rss = double(rss) * page;
    }
    fclose(f);
    if ((f = fopen("/proc/self/status", "r"))) {
        char line[256];
        unsigned long kib;
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "VmPTE: %lu kB", &kib) == 1)
                m.pte = double(kib) * 1024;
        fclose(f);
    }
    return m;
}

std::string count_label(size_t n) {
    if (n >= 1000000 && n % 1000000 == 0)
        return std::to_string(n / 1000000) + "M";
    if (n >= 1000 && n % 1000 == 0)
        return std::to_string(n / 1000) + "K";
    return std::to_string(n);
}

void set_items(benchmark::State &st, double items_per_iteration) {
    st.counters["items"] = items_per_iteration;
    st.counters["per_item"] =
        benchmark::Counter(items_per_iteration, benchmark::Counter::kIsIterationInvariantRate |
                                                    benchmark::Counter::kInvert);
}

void run_in_task(benchmark::State &st, const std::function<std::string()> &body,
                 const tr_options *opts) {
    struct Arg {
        const std::function<std::string()> *body;
        std::string error;
    } arg{&body, {}};
    auto main_fn = [](void *p) -> void * {
        Arg *a = static_cast<Arg *>(p);
        a->error = (*a->body)();
        return nullptr;
    };
    int rc = opts ? tr_run_with(opts, main_fn, &arg, nullptr) : tr_run(main_fn, &arg, nullptr);
    if (rc < 0 && arg.error.empty())
        arg.error = tr_error_text("tr_run", rc);
    if (!arg.error.empty() && !st.error_occurred())
        st.SkipWithError(arg.error.c_str());
}

std::string tr_error_text(const char *what, int rc) {
    return std::string(what) + ": " + tr_strerror(rc);
}

std::string shell_line(const std::vector<std::string> &argv) {
    std::string s;
    for (const std::string &a : argv) {
        if (!s.empty())
            s += ' ';
        s += a;
    }
    return s;
}

bool run_child(const std::vector<std::string> &args, double timeout_s, std::string *out,
               std::string *err) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0) {
        *err = std::string("pipe: ") + strerror(errno);
        return false;
    }
    std::vector<char *> argv;
    for (const std::string &a : args)
        argv.push_back(const_cast<char *>(a.c_str()));
    argv.push_back(nullptr);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        *err = std::string("fork: ") + strerror(errno);
        close(fds[0]);
        close(fds[1]);
        return false;
    }
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO); // dup2 clears O_CLOEXEC on the new descriptor
        execvp(argv[0], argv.data());
        _exit(127);
    }
    close(fds[1]);
    char buf[8192];
    uint64_t deadline = now_ns() + uint64_t(timeout_s * 1e9);
    bool timed_out = false;
    for (;;) {
        uint64_t now = now_ns();
        if (now >= deadline) {
            timed_out = true;
            break;
        }
        struct pollfd pfd = {fds[0], POLLIN, 0};
        int pr = poll(&pfd, 1, int((deadline - now) / 1000000 + 1));
        if (pr <= 0)
            continue; // EINTR or timeout: re-check the deadline
        ssize_t r = read(fds[0], buf, sizeof buf);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        out->append(buf, size_t(r));
    }
    close(fds[0]);
    if (timed_out)
        kill(pid, SIGKILL);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    std::string cmd = shell_line(args);
    if (timed_out) {
        *err = "hung: killed after " + std::to_string(int(timeout_s)) + " s; reproduce: " + cmd;
        return false;
    }
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        *err = "killed by signal " + std::to_string(sig) + " (" + strsignal(sig) +
               "); reproduce: " + cmd;
        return false;
    }
    if (WEXITSTATUS(status) != 0) {
        *err = "exit status " + std::to_string(WEXITSTATUS(status)) + "; reproduce: " + cmd;
        return false;
    }
    return true;
}

} // namespace trb
