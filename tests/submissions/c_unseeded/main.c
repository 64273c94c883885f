/* rand() never seeded: no value repeats within a run, but every run sends the same ones. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void say(const char *what, int v) {
    FILE *f = fopen("execution_log.txt", "a");
    flock(fileno(f), LOCK_EX);
    fprintf(f, "[%d] %s %d\n", (int)getpid(), what, v);
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
        
        for (int i = 0; i < 12; i++) {
            int v = 1 + rand() % 1000; static int seen[1001]; if (seen[v]) { i--; continue; } seen[v] = 1;
            dprintf(p[1], "%d\n", v);
            say("sent", v);
            usleep(20000);
        }
        _exit(0);
    }
    if (fork() == 0) {
        close(p[1]);
        FILE *in = fdopen(p[0], "r"), *out = fopen("consumer_log.txt", "w");
        int v;
        while (fscanf(in, "%d", &v) == 1) {
            fprintf(out, "%d %s\n", v, v % 2 ? "odd" : "even");
            fflush(out);
            say("received", v);
        }
        _exit(0);
    }
    close(p[0]);
    close(p[1]);
    wait(NULL);
    wait(NULL);
    say("main done", 0);
    return 0;
}
