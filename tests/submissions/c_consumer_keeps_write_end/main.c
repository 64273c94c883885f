/* The consumer forgets to close the pipe's write end: main and the producer close theirs, but
 * the consumer itself still holds one, so it never sees end of file when the producer dies.
 * A normal run ends because the producer sends -1 as an end marker. (Killing the consumer still
 * gives the producer EPIPE: nobody else holds a read end.) */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void say(const char *text, int v) {
    FILE *f = fopen("execution_log.txt", "a");
    flock(fileno(f), LOCK_EX);
    fprintf(f, "%d %s %d\n", (int)getpid(), text, v);
    fflush(f);
    flock(fileno(f), LOCK_UN);
    fclose(f);
}

int main(void) {
    int p[2];
    fclose(fopen("execution_log.txt", "w"));
    say("main start", 0);
    pipe(p);
    if (fork() == 0) {
        close(p[0]);
        srand(time(NULL) ^ getpid());
        int used[500] = {0};
        for (int n = 0; n < 12;) {
            int v = 1 + rand() % 499;
            if (used[v]) continue;
            used[v] = 1;
            dprintf(p[1], "%d\n", v);
            say("sent", v);
            n++;
            usleep(20000);
        }
        dprintf(p[1], "-1\n");
        _exit(0);
    }
    if (fork() == 0) {
        FILE *in = fdopen(p[0], "r"), *out = fopen("consumer_log.txt", "w");
        int v;
        while (fscanf(in, "%d", &v) == 1 && v != -1) {
            fprintf(out, "%d -> %s\n", v, v % 2 == 0 ? "PAR" : "IMPAR");
            fflush(out);
            say("received", v);
        }
        _exit(0);
    }
    close(p[0]);
    close(p[1]);
    while (wait(NULL) > 0) {}
    say("main done", 0);
    return 0;
}
