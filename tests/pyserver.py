#!/usr/bin/env python3
"""pyserver.py: an HTTP server without libhandoff that still upgrades with
zero downtime under `handoff run`. What a server in any language must do:
take the listeners from LISTEN_FDS (fds 3, 4, ...) and never bind; leave
their O_NONBLOCK alone (it is shared with the generation draining beside it);
send READY=1 to $NOTIFY_SOCKET (and, as the successor of a libhandoff program,
"ready" on HANDOFF_FD); on SIGTERM close() the listeners (never
shutdown(): it resets the queue the next generation reads), finish what is
in flight, exit 0. GET / and GET /sleep?ms=N answer "generation=N pid=P";
anything else gets 404. One request per connection. Standard library only.
"""
import os, selectors, signal, socket, sys, threading, time
from urllib.parse import parse_qs, urlsplit

PID = os.getpid()
GENERATION = os.environ.get("HANDOFF_GENERATION", "1")
DRAIN_LIMIT = 10.0  # seconds in-flight requests get after SIGTERM


def log(message):
    print(f"pyserver[{PID}] gen {GENERATION}: {message}", file=sys.stderr, flush=True)


def adopt_listeners():
    """Returns the listening sockets passed at fds 3, 4, ... (sd_listen_fds)."""
    # Unset the variables before anything else runs, so that no process we
    # might start adopts fd 3 too. A LISTEN_PID naming another process means
    # the variables were meant for someone else: no sockets, not an error.
    pid = os.environ.pop("LISTEN_PID", "")
    count = os.environ.pop("LISTEN_FDS", "")
    os.environ.pop("LISTEN_FDNAMES", None)
    if pid != str(PID) or not count.isdigit():
        return []
    listeners = []
    for fd in range(3, 3 + int(count)):
        # socket(fileno=) asks the kernel for family and type and, with no
        # default timeout set, leaves the blocking mode alone (no F_SETFL, no
        # FIONBIO): O_NONBLOCK stays as the supervisor set it. Never call
        # setblocking() or settimeout() on these. FD_CLOEXEC is per descriptor.
        try:
            sock = socket.socket(fileno=fd)
        except OSError as e:
            sys.exit(f"pyserver[{PID}]: fd {fd} is not a socket ({e.strerror})")
        if sock.type != socket.SOCK_STREAM or not sock.getsockopt(
                socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
            sys.exit(f"pyserver[{PID}]: fd {fd} is not a listening stream socket")
        sock.set_inheritable(False)
        listeners.append(sock)
    return listeners


def notify(state):
    """sd_notify(3): one datagram to $NOTIFY_SOCKET; '@' = abstract namespace."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
        s.sendto(state.encode(), address)


def tell_handoff_parent():
    """A libhandoff program that upgraded itself to us waits for this line
    on the channel it passed (HANDOFF_FD, docs/design.md): version 1 of its
    protocol, without "connections=", so it ends its connections itself
    (the classic drain). The channel stays open: its end is our end."""
    fd = os.environ.pop("HANDOFF_FD", "")
    if not fd.isdigit():
        return None
    channel = socket.socket(fileno=int(fd))
    channel.set_inheritable(False)
    channel.send(f"handoff 1 ready pid={PID} generation={GENERATION}\n".encode())
    return channel


def respond(request):
    """Maps a request head to (status line, body)."""
    try:
        method, target, _version = request.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
    except ValueError:
        return "400 Bad Request", "bad request\n"
    url = urlsplit(target)
    if method == "GET" and url.path == "/sleep":
        ms = parse_qs(url.query).get("ms", [""])[0]
        if not ms.isdigit():
            return "404 Not Found", "not found\n"
        time.sleep(min(int(ms), 60000) / 1000)
    elif method != "GET" or url.path != "/":
        return "404 Not Found", "not found\n"
    return "200 OK", f"generation={GENERATION} pid={PID}\n"


def serve(conn, counter):
    """Answers one request, then closes without ever causing a reset."""
    with conn:
        try:
            conn.settimeout(10)  # this connection's own descriptor, not shared
            request = b""
            while b"\r\n\r\n" not in request and len(request) < 16384:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                request += chunk
            status, body = respond(request)
            conn.sendall((f"HTTP/1.1 {status}\r\nContent-Type: text/plain\r\n"
                          f"Content-Length: {len(body)}\r\nConnection: close\r\n"
                          f"\r\n{body}").encode())
            counter.append(1)
            # Lingering close: our FIN follows the whole response, then we read
            # until the client's EOF so no unread byte turns close() into RST.
            conn.shutdown(socket.SHUT_WR)
            conn.settimeout(1)
            while conn.recv(4096):
                pass
        except OSError:
            pass


def main():
    stopping = threading.Event()
    wake_r, wake_w = socket.socketpair()  # a signal writes a byte: select() wakes
    wake_w.setblocking(False)
    signal.set_wakeup_fd(wake_w.fileno())
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())

    listeners = adopt_listeners()
    if not listeners:
        sys.exit(f"pyserver[{PID}]: no listening sockets passed (LISTEN_FDS, LISTEN_PID):"
                 " run me under 'handoff run' or systemd socket activation; I never bind")
    selector = selectors.DefaultSelector()
    for obj in (wake_r, *listeners):
        selector.register(obj, selectors.EVENT_READ)
    try:
        notify("READY=1")
        channel = tell_handoff_parent()  # open while we live: its end is ours
    except OSError as e:
        sys.exit(f"pyserver[{PID}]: cannot say ready: {e.strerror}")
    fds = ", ".join(str(s.fileno()) for s in listeners)
    log(f"ready on fd{'s' if len(listeners) > 1 else ''} {fds}")

    threads, counter = [], []
    while not stopping.is_set():
        for key, _ in selector.select():
            if key.fileobj is wake_r:
                wake_r.recv(64)
                continue
            if stopping.is_set():
                break
            # Readable means a connection was queued, but the generation
            # sharing this queue may have taken it first: then accept() on an
            # O_NONBLOCK listener says EAGAIN. (A blocking one would wait for
            # the next connection instead: nothing lost, but a stop waits too.)
            try:
                conn, _ = key.fileobj.accept()
            except (BlockingIOError, ConnectionAbortedError):
                continue
            thread = threading.Thread(target=serve, args=(conn, counter))
            thread.start()
            threads = [t for t in threads if t.is_alive()] + [thread]

    # Stop accepting at once: close() our copies. The accept queue lives on
    # in the next generation; shutdown() here would reset it for everyone.
    for sock in listeners:
        selector.unregister(sock)
        sock.close()
    deadline = time.monotonic() + DRAIN_LIMIT
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    left = sum(t.is_alive() for t in threads)
    log(f"exiting: served {len(counter)} requests"
        + (f", {left} cut at the {DRAIN_LIMIT:g} s limit" if left else ""))
    os._exit(0)  # do not wait for threads past the limit


if __name__ == "__main__":
    main()
