/* Correct, with the log layouts of other students: a FIFO instead of an anonymous pipe,
 * Portuguese sentences with dates and pids in the consumer's log, fcntl record locks. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void registrar(const char *papel, const char *texto) {
    char linha[200], quando[32];
    struct timeval tv;
    gettimeofday(&tv, NULL);
    strftime(quando, sizeof quando, "%Y-%m-%d %H:%M:%S", localtime(&tv.tv_sec));
    int n = snprintf(linha, sizeof linha, "%s,%03d - [%s PID: %d] %s\n", quando,
                     (int)(tv.tv_usec / 1000), papel, (int)getpid(), texto);
    int fd = open("execution_log.txt", O_WRONLY | O_APPEND | O_CREAT, 0644);
    struct flock lk = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    fcntl(fd, F_SETLKW, &lk);
    write(fd, linha, n);
    lk.l_type = F_UNLCK;
    fcntl(fd, F_SETLK, &lk);
    close(fd);
}

int main(void) {
    char texto[64];
    unlink("canal.fifo");
    if (mkfifo("canal.fifo", 0600) < 0) return 1;
    close(open("execution_log.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644));
    registrar("Main", "Iniciando");
    pid_t produtor = fork();
    if (produtor == 0) {
        int fd = open("canal.fifo", O_WRONLY);
        srand(time(NULL) ^ getpid());
        int usados[300] = {0};
        for (int i = 1; i <= 12;) {
            int v = 1 + rand() % 299;
            if (usados[v]) continue;
            usados[v] = 1;
            dprintf(fd, "%d\n", v);
            snprintf(texto, sizeof texto, "Enviando dado: %d (%d/12)", v, i);
            registrar("Produtor", texto);
            i++;
            usleep(20000);
        }
        _exit(0);
    }
    pid_t consumidor = fork();
    if (consumidor == 0) {
        FILE *in = fopen("canal.fifo", "r"), *out = fopen("consumer_log.txt", "w");
        int v;
        while (fscanf(in, "%d", &v) == 1) {
            time_t agora = time(NULL);
            char hora[16];
            strftime(hora, sizeof hora, "%H:%M:%S", localtime(&agora));
            fprintf(out, "[%s] (PID %d) O número %d é %s.\n", hora, (int)getpid(), v,
                    v % 2 == 0 ? "PAR" : "ÍMPAR");
            fflush(out);
            snprintf(texto, sizeof texto, "Recebeu: '%d'", v);
            registrar("Consumidor", texto);
        }
        _exit(0);
    }
    waitpid(produtor, NULL, 0);
    waitpid(consumidor, NULL, 0);
    registrar("Main", "Fim");
    unlink("canal.fifo");
    return 0;
}
