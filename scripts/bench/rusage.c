// Benchmark helper (not part of Hopscope): runs a command, discards its output unless asked,
// and prints the wall-clock time and the CPU time (user and system, from wait4's rusage) the
// command used, in milliseconds. Other processes' load on the machine inflates wall time but
// not CPU time, so the CPU figures are what the benchmark's CPU ratios use.
//
// usage: rusage [-o FILE] COMMAND ARGS...   prints: wall_ms=<ms> user_ms=<ms> sys_ms=<ms> cpu_ms=<ms>
//        -o FILE   write the command's standard output to FILE instead of discarding it
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double ms(struct timeval t) { return t.tv_sec * 1e3 + t.tv_usec / 1e3; }

int main(int argc, char **argv) {
    const char *out = "/dev/null";
    int first = 1;
    if (argc > 2 && strcmp(argv[1], "-o") == 0) { out = argv[2]; first = 3; }
    if (first >= argc) { fprintf(stderr, "usage: rusage [-o FILE] COMMAND ARGS...\n"); return 2; }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t pid = fork();
    if (pid < 0) { perror("fork"); return 2; }
    if (pid == 0) {
        int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0 || dup2(fd, 1) < 0) { perror(out); _exit(127); }
        execvp(argv[first], argv + first);
        perror(argv[first]);
        _exit(127);
    }
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) < 0) { perror("wait4"); return 2; }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double wall = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
    printf("wall_ms=%.1f user_ms=%.1f sys_ms=%.1f cpu_ms=%.1f\n", wall, ms(ru.ru_utime), ms(ru.ru_stime),
           ms(ru.ru_utime) + ms(ru.ru_stime));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "rusage: %s exited with status %d\n", argv[first], WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
        return 1;
    }
    return 0;
}
