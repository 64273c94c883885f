/* The yardstick of `cargo bench --bench throughput`: Desafio 01 written as a student would in C,
 * with nothing ipc_desafio adds (no option parsing, no claim on the log directory, no signal
 * handling, no verdict, no summary of resources). Main truncates the two logs and logs its start
 * under flock, makes a pipe, forks a producer and a consumer, closes its ends and waits for both.
 * The producer sends COUNT distinct random values from 1 to 100 (as 8-byte integers) and an end
 * marker (0), logging each one; the consumer reads until EOF and writes even/odd lines to
 * consumer_log.txt, logging each. Every execution_log.txt line is written with one write(2)
 * under flock(LOCK_EX), with a local-time stamp (localtime_r reads the time zone, as ours does).
 *
 * Build and run (the benchmark does both in a temporary directory):
 *   cc -O2 -o naive_desafio benches/naive_desafio.c && ./naive_desafio LOG_DIR [COUNT]
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char exec_path[4096], cons_path[4096];

static int stamp(char *buf, size_t len) {
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    localtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    return (int)n + snprintf(buf + n, len - n, ".%03ld", (long)(tv.tv_usec / 1000));
}

/* One line to execution_log.txt: opened by each process for itself, one write under flock. */
static void log_line(int fd, const char *role, const char *text) {
    char line[512];
    int n = stamp(line, sizeof line);
    n += snprintf(line + n, sizeof line - n, " [%s %d] %s\n", role, (int)getpid(), text);
    flock(fd, LOCK_EX);
    if (write(fd, line, (size_t)n) != n) perror("write");
    flock(fd, LOCK_UN);
}

static int open_log(void) {
    int fd = open(exec_path, O_WRONLY | O_APPEND | O_CREAT, 0644);
    if (fd < 0) { perror(exec_path); exit(1); }
    return fd;
}

static void producer(int wfd, int count) {
    int log = open_log();
    char text[128];
    int used[101] = {0};
    srand((unsigned)(time(NULL) ^ getpid()));
    log_line(log, "producer", "started");
    for (int i = 1; i <= count; i++) {
        long v;
        do v = 1 + rand() % 100; while (used[v]);
        used[v] = 1;
        if (write(wfd, &v, sizeof v) != sizeof v) { perror("pipe"); exit(3); }
        snprintf(text, sizeof text, "sent %ld (%d/%d)", v, i, count);
        log_line(log, "producer", text);
    }
    long end = 0;
    if (write(wfd, &end, sizeof end) != sizeof end) { perror("pipe"); exit(3); }
    log_line(log, "producer", "end marker sent");
    close(wfd);
    log_line(log, "producer", "exiting with code 0");
    exit(0);
}

static void consumer(int rfd) {
    int log = open_log();
    int out = open(cons_path, O_WRONLY | O_APPEND | O_CREAT, 0644);
    if (out < 0) { perror(cons_path); exit(1); }
    char text[128], line[256];
    long v;
    int received = 0;
    log_line(log, "consumer", "started");
    while (read(rfd, &v, sizeof v) == sizeof v && v != 0) {
        received++;
        const char *kind = v % 2 == 0 ? "even" : "odd";
        snprintf(text, sizeof text, "received %ld: %s", v, kind);
        log_line(log, "consumer", text);
        int n = stamp(line, sizeof line);
        n += snprintf(line + n, sizeof line - n, " %ld %s\n", v, kind);
        if (write(out, line, (size_t)n) != n) perror("write");
    }
    snprintf(text, sizeof text, "end marker received (%d received)", received);
    log_line(log, "consumer", text);
    log_line(log, "consumer", "exiting with code 0");
    exit(0);
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : ".";
    int count = argc > 2 ? atoi(argv[2]) : 12;
    if (count < 1 || count > 100) count = 12;
    snprintf(exec_path, sizeof exec_path, "%s/execution_log.txt", dir);
    snprintf(cons_path, sizeof cons_path, "%s/consumer_log.txt", dir);
    close(open(exec_path, O_WRONLY | O_CREAT | O_TRUNC, 0644));
    close(open(cons_path, O_WRONLY | O_CREAT | O_TRUNC, 0644));
    int log = open_log();
    char text[128];
    snprintf(text, sizeof text, "started: count %d, range 1..=100", count);
    log_line(log, "main", text);
    int fds[2];
    if (pipe(fds) < 0) { perror("pipe"); return 1; }
    pid_t p = fork();
    if (p == 0) { close(log); close(fds[0]); producer(fds[1], count); }
    snprintf(text, sizeof text, "spawned producer %d", (int)p);
    log_line(log, "main", text);
    pid_t c = fork();
    if (c == 0) { close(log); close(fds[1]); consumer(fds[0]); }
    snprintf(text, sizeof text, "spawned consumer %d", (int)c);
    log_line(log, "main", text);
    close(fds[0]);
    close(fds[1]);
    int status, code = 0;
    for (int i = 0; i < 2; i++) {
        pid_t w = wait(&status);
        snprintf(text, sizeof text, "%s %d exited with code %d", w == p ? "producer" : "consumer",
                 (int)w, WEXITSTATUS(status));
        log_line(log, "main", text);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) code = 1;
    }
    log_line(log, "main", code == 0 ? "exiting with code 0" : "exiting with code 1");
    return code;
}
