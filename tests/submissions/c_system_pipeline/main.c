/* main starts the shell pipeline `./prod | ./cons` with system() and logs around it. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
static void log_line(const char *t) {
    FILE *f = fopen("execution_log.txt", "a"); flock(fileno(f), LOCK_EX);
    fprintf(f, "main %s\n", t); fflush(f); flock(fileno(f), LOCK_UN); fclose(f);
}
int main(void) {
    fclose(fopen("execution_log.txt", "w"));
    log_line("start");
    int rc = system("./prod | ./cons");
    log_line(rc == 0 ? "done" : "pipeline failed");
    return rc == 0 ? 0 : 1;
}
