# attack: exhaust memory while the file loads
# expect: load-memory
hoard = []
while True:
    hoard.append(bytearray(1 << 20))
