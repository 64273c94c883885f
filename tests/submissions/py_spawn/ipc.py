# multiprocessing with the spawn start method: Pipe(duplex=False), a Lock around the shared log.
import multiprocessing as mp, os, random, time

def log(lock, who, text):
    with lock:
        with open("execution_log.txt", "a") as f:
            f.write(f"{time.strftime('%H:%M:%S')} [{who} {os.getpid()}] {text}\n")

def produtor(conn, lock):
    for v in random.sample(range(1, 1000), 12):
        try:
            conn.send(v)
        except BrokenPipeError:
            return  # the consumer is gone (it may have died holding the lock: no log)
        log(lock, "Produtor", f"enviou {v}")
        time.sleep(0.02)
    conn.send(None)
    conn.close()

def consumidor(conn, lock):
    with open("consumer_log.txt", "w") as out:
        while True:
            try:
                v = conn.recv()
            except EOFError:
                log(lock, "Consumidor", "fim do canal")
                break
            if v is None:
                break
            out.write(f"Dado {v} processado como '{'Par' if v % 2 == 0 else 'Impar'}'\n")
            out.flush()
            log(lock, "Consumidor", f"recebeu {v}")

if __name__ == "__main__":
    mp.set_start_method("spawn")
    open("execution_log.txt", "w").close()
    lock = mp.Lock()
    r, w = mp.Pipe(duplex=False)
    log(lock, "Main", "inicio")
    p = mp.Process(target=produtor, args=(w, lock))
    c = mp.Process(target=consumidor, args=(r, lock))
    p.start(); c.start()
    w.close(); r.close()
    p.join(); c.join()
    log(lock, "Main", "fim")
