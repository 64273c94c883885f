#include <stdio.h>
#include <sys/file.h>
#include <unistd.h>
int main(void) {
    int v; FILE *out = fopen("consumer_log.txt", "w");
    while (scanf("%d", &v) == 1) {
        fprintf(out, "%d %s\n", v, v % 2 ? "odd" : "even"); fflush(out);
        FILE *f = fopen("execution_log.txt", "a"); flock(fileno(f), LOCK_EX);
        fprintf(f, "consumer %d got %d\n", (int)getpid(), v); fflush(f);
        flock(fileno(f), LOCK_UN); fclose(f);
    }
    return 0;
}
