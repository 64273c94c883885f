# A correct submission whose consumer stops itself (SIGSTOP, as Ctrl+Z would) after its
# third value and is continued by main 0.3 s later.
import os, random, signal, time, fcntl
def log(t):
    with open("execution_log.txt", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX); f.write(f"{os.getpid()} {t}\n"); f.flush(); fcntl.flock(f, fcntl.LOCK_UN)
open("execution_log.txt", "w").close(); log("main start")
r, w = os.pipe()
prod = os.fork()
if prod == 0:
    os.close(r)
    for v in random.sample(range(1, 1000), 12):
        os.write(w, f"{v}\n".encode()); log(f"sent {v}"); time.sleep(0.02)
    os._exit(0)
cons = os.fork()
if cons == 0:
    os.close(w)
    with os.fdopen(r) as src, open("consumer_log.txt", "w") as out:
        for i, line in enumerate(src):
            v = int(line); out.write(f"{v} {'par' if v % 2 == 0 else 'impar'}\n"); out.flush(); log(f"got {v}")
            if i == 2:
                os.kill(os.getpid(), signal.SIGSTOP)
    os._exit(0)
os.close(r); os.close(w)
_, st = os.waitpid(cons, os.WUNTRACED)
if os.WIFSTOPPED(st):
    time.sleep(0.3); os.kill(cons, signal.SIGCONT); os.waitpid(cons, 0)
os.waitpid(prod, 0); log("main done")
