# The pipe is right, but nothing is recorded in a file: the consumer prints, and there is no
# shared log (so nothing to lock).
import os, random

r, w = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(r)
    for v in random.sample(range(1, 200), 12):
        os.write(w, f"{v}\n".encode())
    os._exit(0)
pid2 = os.fork()
if pid2 == 0:
    os.close(w)
    for line in os.fdopen(r):
        v = int(line)
        print(f"Consumidor recebeu {v}: {'PAR' if v % 2 == 0 else 'ÍMPAR'}", flush=True)
    os._exit(0)
os.close(r); os.close(w)
os.waitpid(pid, 0); os.waitpid(pid2, 0)
print("fim")
