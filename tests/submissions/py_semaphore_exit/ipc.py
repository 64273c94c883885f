# The producer's last act is a semaphore wait that the consumer ends after its (unlocked) log
# write; the producer then exits, and main writes the log later. No lock protects anything: a
# futex waiter that exits hands no lock to its parent (this got lock: pass once).
import multiprocessing as mp, os, random, time
def producer(w, done):
    for v in random.sample(range(1, 1000), 12):
        os.write(w, f"{v}\n".encode())
    os.close(w)
    done.acquire()
def consumer(r, w, done):
    os.close(w)
    with os.fdopen(r) as src, open("consumer_log.txt", "w") as out:
        for line in src:
            v = int(line)
            out.write(f"{v} {'par' if v % 2 == 0 else 'impar'}\n")
    with open("execution_log.txt", "a") as f:
        f.write("consumer done\n")
    done.release()
if __name__ == "__main__":
    mp.set_start_method("fork")
    r, w = os.pipe()
    done = mp.Semaphore(0)
    p = mp.Process(target=producer, args=(w, done)); p.start()
    c = mp.Process(target=consumer, args=(r, w, done)); c.start()
    os.close(r); os.close(w)
    p.join(); c.join()
    time.sleep(0.2)
    with open("execution_log.txt", "a") as f:
        f.write("main done\n")
