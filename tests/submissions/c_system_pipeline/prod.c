#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>
int main(void) {
    srand(time(NULL) ^ getpid());
    int base = rand() % 1000;
    for (int i = 0; i < 12; i++) {
        printf("%d\n", base + 3 * i); fflush(stdout);
        FILE *f = fopen("execution_log.txt", "a"); flock(fileno(f), LOCK_EX);
        fprintf(f, "producer %d sent %d\n", (int)getpid(), base + 3 * i); fflush(f);
        flock(fileno(f), LOCK_UN); fclose(f);
        usleep(20000);
    }
    return 0;
}
