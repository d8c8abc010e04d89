# attack: an endless loop at module level, while the file loads
# expect: load-timeout
n = 0
while True:
    n += 1
