/* Correct: pipe + two forks, unused ends closed everywhere, each log line under flock, a
 * shuffled range so no value repeats, seeded from the clock and the pid. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void log_line(const char *who, const char *text) {
    char line[128];
    int fd = open("execution_log.txt", O_WRONLY | O_APPEND | O_CREAT, 0644);
    int n = snprintf(line, sizeof line, "%s[%d] %s\n", who, (int)getpid(), text);
    flock(fd, LOCK_EX);
    write(fd, line, n);
    flock(fd, LOCK_UN);
    close(fd);
}

int main(void) {
    int p[2];
    char text[64];
    close(open("execution_log.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644));
    log_line("main", "start");
    if (pipe(p) < 0) return 1;
    pid_t prod = fork();
    if (prod == 0) {
        int values[200];
        close(p[0]);
        signal(SIGPIPE, SIG_IGN);
        srand(time(NULL) ^ getpid());
        for (int i = 0; i < 200; i++) values[i] = i + 1;
        for (int i = 199; i > 0; i--) { int j = rand() % (i + 1), t = values[i]; values[i] = values[j]; values[j] = t; }
        for (int i = 0; i < 12; i++) {
            if (write(p[1], &values[i], sizeof values[i]) < 0) {
                log_line("producer", errno == EPIPE ? "EPIPE" : "write error");
                _exit(3);
            }
            snprintf(text, sizeof text, "sent %d", values[i]);
            log_line("producer", text);
            usleep(20000);
        }
        _exit(0);
    }
    pid_t cons = fork();
    if (cons == 0) {
        int v;
        close(p[1]);
        FILE *out = fopen("consumer_log.txt", "w");
        while (read(p[0], &v, sizeof v) == sizeof v) {
            fprintf(out, "%d: %s\n", v, v % 2 ? "odd" : "even");
            fflush(out);
            snprintf(text, sizeof text, "received %d", v);
            log_line("consumer", text);
        }
        log_line("consumer", "end of file");
        _exit(0);
    }
    close(p[0]);
    close(p[1]);
    waitpid(prod, NULL, 0);
    waitpid(cons, NULL, 0);
    log_line("main", "done");
    return 0;
}
