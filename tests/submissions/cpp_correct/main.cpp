// C++: pipe + fork, the consumer's results through a buffered std::ofstream (written at exit),
// the shared log through a locked stdio FILE per line; std::mt19937 seeded by random_device.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <numeric>
#include <random>
#include <string>
#include <vector>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

static void log_line(const std::string &who, const std::string &text) {
    FILE *f = std::fopen("execution_log.txt", "a");
    flock(fileno(f), LOCK_EX);
    std::fprintf(f, "[%s %d] %s\n", who.c_str(), (int)getpid(), text.c_str());
    std::fflush(f);
    flock(fileno(f), LOCK_UN);
    std::fclose(f);
}

int main() {
    std::fclose(std::fopen("execution_log.txt", "w"));
    log_line("main", "start");
    int p[2];
    pipe(p);
    if (fork() == 0) {
        close(p[0]);
        std::vector<int> v(300);
        std::iota(v.begin(), v.end(), 1);
        std::mt19937 g(std::random_device{}());
        std::shuffle(v.begin(), v.end(), g);
        for (int i = 0; i < 12; i++) {
            std::string s = std::to_string(v[i]) + "\n";
            if (write(p[1], s.data(), s.size()) < 0) { log_line("producer", "EPIPE"); _exit(3); }
            log_line("producer", "sent " + std::to_string(v[i]));
            usleep(20000);
        }
        _exit(0);
    }
    if (fork() == 0) {
        close(p[1]);
        std::ofstream out("consumer_log.txt");
        FILE *in = fdopen(p[0], "r");
        int x;
        while (std::fscanf(in, "%d", &x) == 1) {
            out << "Numero " << x << " e " << (x % 2 ? "IMPAR" : "PAR") << "\n";
            log_line("consumer", "received " + std::to_string(x));
        }
        out.close();
        _exit(0);
    }
    close(p[0]);
    close(p[1]);
    while (wait(nullptr) > 0) {}
    log_line("main", "done");
}
