#!/usr/bin/env python3
"""storeserver.py: a server written for systemd's file descriptor store,
run under `handoff run --fdstore-max N` unchanged. Standard library only.

It keeps a counter in a memfd named "counter": taken from LISTEN_FDS /
LISTEN_FDNAMES when a previous generation stored it, else made and stored
with sd_notify "FDSTORE=1\\nFDNAME=counter" and the descriptor attached.
Then READY=1. Every GET / adds one and answers "count=N generation=G". What
else it does on request, for tests/test-fdstore.c:

  GET /pair?name=X[&poll=0]  stores one end of a new socketpair as X
                             (FDPOLL=0 if asked), keeps the other
  GET /hangup?name=X         closes the end it kept: X hangs up
  GET /remove?name=X         FDSTOREREMOVE=1 FDNAME=X
  GET /store?name=X&count=N  stores N new pipes' read ends as X (FDNAME is
                             sent as given: a bad name is the test's); it
                             keeps the write ends
  GET /bare?count=N          N descriptors with no FDSTORE=1
  GET /names                 the names it was started with

One request per connection; SIGTERM: exit 0.
"""
import os, select, signal, socket, sys
from urllib.parse import parse_qs, urlsplit

PID = os.getpid()
GENERATION = os.environ.get("HANDOFF_GENERATION", "1")
kept = {}  # name -> the socketpair end we hold


def log(message):
    print(f"storeserver[{PID}] gen {GENERATION}: {message}", file=sys.stderr, flush=True)


def notify(state, fds=()):
    address = os.environ["NOTIFY_SOCKET"]
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
        s.connect(address)  # send_fds() of Python 3.11 ignores its address
        socket.send_fds(s, [state.encode()], list(fds))


def passed():
    """(listening sockets, {name: [fd, ...]}) from LISTEN_FDS."""
    count = int(os.environ.pop("LISTEN_FDS", "0"))
    pid = os.environ.pop("LISTEN_PID", "")
    names = os.environ.pop("LISTEN_FDNAMES", "").split(":")
    listeners, stored = [], {}
    if pid != str(PID):
        return listeners, stored
    for i, fd in enumerate(range(3, 3 + count)):
        name = names[i] if i < len(names) else "unknown"
        os.set_inheritable(fd, False)
        try:
            sock = socket.socket(fileno=fd)
            if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
                listeners.append(sock)
                continue
            sock.detach()
        except OSError:
            pass
        stored.setdefault(name, []).append(fd)
    return listeners, stored


def answer(conn, text, status="200 OK"):
    body = text.encode()
    conn.sendall(b"HTTP/1.0 " + status.encode() + b"\r\nContent-Length: " +
                 str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)


def main():
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    listeners, stored = passed()  # first: LISTEN_FDS names descriptors from 3 on
    # A SIGTERM that lands after Python last looked for signals but before
    # select() blocks would wait for the next client: the handler runs only
    # between bytecodes. With a wakeup fd the signal also writes a byte that
    # select() watches, so it returns and the handler runs at once.
    wake_r, wake_w = socket.socketpair()
    wake_r.setblocking(False)
    wake_w.setblocking(False)
    signal.set_wakeup_fd(wake_w.fileno())
    names = ",".join(f"{n}:{len(f)}" for n, f in sorted(stored.items())) or "-"
    log(f"started with {len(listeners)} listener(s), stored {names}")
    if "counter" in stored:
        counter = stored["counter"][0]
    else:
        counter = os.memfd_create("counter", os.MFD_CLOEXEC)
        os.pwrite(counter, (0).to_bytes(8, "little"), 0)
        notify("FDSTORE=1\nFDNAME=counter", [counter])
    notify("READY=1")
    server = listeners[0]
    while True:
        # The listener is non-blocking (the supervisor's, shared): wait.
        readable, _, _ = select.select([server, wake_r], [], [])
        if wake_r in readable:
            wake_r.recv(64)  # a signal other than SIGTERM: nothing to do
        try:
            conn, _ = server.accept()
        except BlockingIOError:
            continue
        with conn:
            head = conn.recv(4096).decode(errors="replace")
            target = head.split(" ")[1] if head.count(" ") >= 2 else "/"
            url = urlsplit(target)
            q = {k: v[0] for k, v in parse_qs(url.query).items()}
            if url.path == "/":
                n = int.from_bytes(os.pread(counter, 8, 0), "little") + 1
                os.pwrite(counter, n.to_bytes(8, "little"), 0)
                answer(conn, f"count={n} generation={GENERATION}\n")
            elif url.path == "/pair":
                ours, theirs = socket.socketpair()
                kept[q["name"]] = ours
                poll = "\nFDPOLL=0" if q.get("poll") == "0" else ""
                notify(f"FDSTORE=1\nFDNAME={q['name']}{poll}", [theirs.fileno()])
                theirs.close()
                answer(conn, "stored\n")
            elif url.path == "/hangup":
                kept.pop(q["name"]).close()
                answer(conn, "closed\n")
            elif url.path == "/remove":
                notify(f"FDSTOREREMOVE=1\nFDNAME={q['name']}")
                answer(conn, "removed\n")
            elif url.path in ("/store", "/bare"):
                pipes = [os.pipe() for _ in range(int(q.get("count", "1")))]
                state = f"FDSTORE=1\nFDNAME={q['name']}" if url.path == "/store" else "X=1"
                notify(state, [r for r, _ in pipes])
                for r, w in pipes:
                    os.close(r)
                    kept[f"pipe{w}"] = w  # open: the stored end does not hang up
                answer(conn, "sent\n")
            elif url.path == "/names":
                answer(conn, names + "\n")
            else:
                answer(conn, "no\n", "404 Not Found")


if __name__ == "__main__":
    main()
