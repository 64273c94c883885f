# Spins for ever.
print("ATTEMPT spin: started", flush=True)
while True:
    pass
