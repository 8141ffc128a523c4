#!/usr/bin/env python3
"""pyserver.py: an HTTP/1.1 server without libhandoff that still upgrades with
zero downtime under `handoff run`, and hands its live keep-alive connections
to the next generation. Standard library only. What a server in any language
must do (docs/connections.md has the whole protocol):

- take the listeners from LISTEN_FDS (fds 3, 4, ...) and never bind; leave
  their O_NONBLOCK alone (it is shared with the generation draining beside
  it); send READY=1 to $NOTIFY_SOCKET, with HANDOFF_CONNECTIONS=1 when it
  takes live connections;
- under the supervisor (HANDOFF_SUPERVISOR=1), read the channel
  HANDOFF_CHANNEL_FD names: "handoff 1 predecessor ..." brings the channel the previous
  generation passes its connections on (receive them with
  socket.recv_fds, answer TAKEN); "handoff 1 successor ..." brings the
  channel to pass ours on, and is the request to drain (no SIGTERM follows);
- as the successor of a libhandoff program that upgraded itself (HANDOFF_FD
  without HANDOFF_SUPERVISOR), say "ready" on HANDOFF_FD;
- on that, or on SIGTERM, close() the listeners (never shutdown(): it resets the queue
  the next generation reads), pass idle connections to the successor if
  there is one, finish the rest (their last response says "Connection:
  close"), exit 0.

GET / and GET /sleep?ms=N answer "generation=N pid=P"; anything else gets
404. --no-pass: take and pass no connections (the classic drain).
"""
import errno, heapq, os, selectors, signal, socket, struct, sys, time
from urllib.parse import parse_qs, urlsplit

PID = os.getpid()
GENERATION = os.environ.get("HANDOFF_GENERATION", "1")
DRAIN_LIMIT = 10.0  # seconds the connections get after SIGTERM
LINGER_LIMIT = 1.0  # seconds to read a closing client's last bytes
HEAD_LIMIT = 16384  # bytes of a request head


def log(message):
    print(f"pyserver[{PID}] gen {GENERATION}: {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------ the wire format

# Every integer little-endian (src/conn_wire.h). A message: the header, then
# `count` records of u32 record_length (itself included) and fields of
# u16 tag, u16 flags, u32 length, value. The descriptors travel beside it
# (SCM_RIGHTS), one per record of a CONNECTIONS message, in record order.
HEADER = struct.Struct("<4sHHII")  # "HOCN", version, type, header_length, count
FIELD = struct.Struct("<HHI")
CONNECTIONS, TAKEN, REFUSED = 1, 2, 3
ID, PENDING, STATE, ERROR = 1, 2, 3, 4
CRITICAL = 0x0001
MESSAGE_MAX = 131072
RECORDS_MAX = 252
BATCH = 64  # connections per message we send, at most
BATCH_BYTES = MESSAGE_MAX // 2  # and their pending bytes, at most
PENDING_MAX, STATE_MAX = 32768, 65536


def wire_message(kind, records):
    """records: a list of lists of (tag, bytes)."""
    body = []
    for fields in records:
        record = b"".join(FIELD.pack(tag, 0, len(value)) + value for tag, value in fields)
        body.append(struct.pack("<I", 4 + len(record)) + record)
    return HEADER.pack(b"HOCN", 1, kind, HEADER.size, len(records)) + b"".join(body)


def wire_answer(kind, ids, error=0):
    records = [[(ID, struct.pack("<Q", i))] + ([(ERROR, struct.pack("<I", error))] if error else [])
               for i in ids]
    return wire_message(kind, records)


def wire_parse(data):
    """(type, [record dicts]) or ValueError. Fields we do not know are skipped,
    unless marked critical: then the record says so ("critical": True)."""
    if len(data) < HEADER.size:
        raise ValueError("short message")
    magic, version, kind, header_length, count = HEADER.unpack_from(data)
    if magic != b"HOCN" or version < 1 or kind not in (CONNECTIONS, TAKEN, REFUSED):
        raise ValueError("not a connection message")
    if not HEADER.size <= header_length <= len(data) or count > RECORDS_MAX:
        raise ValueError("bad header")
    records, at = [], header_length
    for _ in range(count):
        if len(data) - at < 4:
            raise ValueError("short record")
        (length,) = struct.unpack_from("<I", data, at)
        if not 4 <= length <= len(data) - at:
            raise ValueError("bad record length")
        record, field_at, end = {}, at + 4, at + length
        while field_at < end:
            if end - field_at < FIELD.size:
                raise ValueError("short field")
            tag, flags, size = FIELD.unpack_from(data, field_at)
            value = data[field_at + FIELD.size:field_at + FIELD.size + size]
            if len(value) != size or field_at + FIELD.size + size > end:
                raise ValueError("bad field length")
            if tag in record:
                raise ValueError("repeated field")
            if tag in (ID, PENDING, STATE, ERROR):
                record[tag] = value
            elif flags & CRITICAL:
                record["critical"] = True
            field_at += FIELD.size + size
        if ID not in record or len(record[ID]) != 8:
            raise ValueError("record without an id")
        if len(record.get(PENDING, b"")) > PENDING_MAX or len(record.get(STATE, b"")) > STATE_MAX:
            raise ValueError("field past its limit")
        record[ID] = struct.unpack("<Q", record[ID])[0]
        records.append(record)
        at = end
    if at != len(data):
        raise ValueError("bytes after the last record")
    return kind, records


# -------------------------------------------------------- the supervisor's words

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


def take_channel(name):
    """The channel at the fd variable `name` names, or None."""
    fd = os.environ.pop(name, "")
    if not fd.isdigit():
        return None
    channel = socket.socket(fileno=int(fd))
    channel.set_inheritable(False)
    return channel


def introduction(channel):
    """One message of the supervisor's: (role, pid, descriptor) or None; the
    descriptor of a message we cannot use is closed."""
    try:
        data, fds, flags, _ = socket.recv_fds(channel, 256, 1, socket.MSG_CMSG_CLOEXEC)
    except BlockingIOError:
        return None
    if not data:
        raise EOFError
    words = data.decode("latin-1").split()
    fields = dict(w.split("=", 1) for w in words[3:] if "=" in w)
    if (len(fds) != 1 or flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC) or len(words) < 3
            or words[0] != "handoff" or not fields.get("pid", "").isdigit()):
        for fd in fds:
            os.close(fd)
        return None
    return words[2], int(fields["pid"]), fds[0]


# ---------------------------------------------------------------- the server

def respond(head):
    """Maps a request head to (status line, body, delay in s, keep alive)."""
    lines = head.decode("latin-1").split("\r\n")
    try:
        method, target, version = lines[0].split(" ")
    except ValueError:
        return "400 Bad Request", "bad request\n", 0, False
    headers = {k.strip().lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:])}
    connection = headers.get("connection", "").lower()
    keep = connection != "close" if version == "HTTP/1.1" else connection == "keep-alive"
    url = urlsplit(target)
    delay = 0
    if method == "GET" and url.path == "/sleep":
        ms = parse_qs(url.query).get("ms", [""])[0]
        if not ms.isdigit():
            return "404 Not Found", "not found\n", 0, keep
        delay = min(int(ms), 60000) / 1000
    elif method != "GET" or url.path != "/":
        return "404 Not Found", "not found\n", 0, keep
    return "200 OK", f"generation={GENERATION} pid={PID}\n", delay, keep


class Conn:
    """One client: bytes in, bytes out, and whether a request is under way."""

    def __init__(self, sock, pending=b""):
        self.sock = sock
        self.inbuf = bytearray(pending)
        self.out = bytearray()
        self.waiting = None     # (status, body, keep): a /sleep's answer to come
        self.closing = False    # the last response is out: FIN sent, reading to EOF
        self.linger_until = 0.0
        self.watched = 0        # selector events registered, 0: not registered
        self.stays = False      # the successor refused it: served to the end here

    def idle(self):
        """Between two requests, with nothing half-read or half-written."""
        return (not self.waiting and not self.out and not self.closing
                and b"\r\n\r\n" not in self.inbuf)


class Server:
    def __init__(self, listeners, supervisor, passing):
        self.selector = selectors.DefaultSelector()
        self.listeners = listeners
        self.supervisor = supervisor
        self.passing = passing
        self.conns = {}          # fd -> Conn
        self.timers = []         # (when, serial, conn) for /sleep
        self.serial = 0
        self.draining = False
        self.deadline = None
        self.successor = None    # the channel our connections go on
        self.to_pass = []        # idle connections waiting for room on it
        self.in_flight = {}      # id -> Conn, passed, not yet answered
        self.batches = []        # ids of each message sent, oldest first
        self.next_id = 1
        self.predecessor = None  # the channel connections come in on
        self.answers = []        # answers waiting for room on it
        self.served = self.moved_out = self.moved_in = 0
        self.stop_signalled = False
        wake_r, wake_w = socket.socketpair()  # a signal writes a byte: select() wakes
        wake_w.setblocking(False)
        signal.set_wakeup_fd(wake_w.fileno())
        self.wake = wake_r, wake_w
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: setattr(self, "stop_signalled", True))
        self.selector.register(wake_r, selectors.EVENT_READ, "wake")
        for sock in listeners:
            self.selector.register(sock, selectors.EVENT_READ, "listener")
        if self.supervisor:
            self.supervisor.setblocking(False)  # read when select() says, or to check
            self.selector.register(self.supervisor, selectors.EVENT_READ, "supervisor")

    # -- connections

    def watch(self, c):
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if c.out else 0)
        if c.watched == events:
            return
        if c.watched:
            self.selector.modify(c.sock, events, c)
        else:
            self.selector.register(c.sock, events, c)
        c.watched = events

    def unwatch(self, c):
        if c.watched:
            self.selector.unregister(c.sock)
            c.watched = 0

    def add(self, sock, pending=b""):
        sock.setblocking(False)  # this connection's own file: not shared
        c = Conn(sock, pending)
        self.conns[sock.fileno()] = c
        self.watch(c)
        self.work(c)

    def close(self, c):
        self.unwatch(c)
        self.conns.pop(c.sock.fileno(), None)
        c.sock.close()
        c.closing, c.inbuf, c.out, c.waiting = True, bytearray(), bytearray(), None

    def answer(self, c, status, body, keep):
        if self.draining and (not self.successor or c.stays):
            keep = False  # the classic drain: this is its last response
        c.out += (f"HTTP/1.1 {status}\r\nContent-Type: text/plain\r\n"
                  f"Content-Length: {len(body)}\r\n"
                  f"Connection: {'keep-alive' if keep else 'close'}\r\n\r\n{body}").encode()
        self.served += 1
        if not keep:
            c.closing = True
        self.flush(c)

    def flush(self, c):
        try:
            while c.out:
                c.out = c.out[c.sock.send(c.out):]
        except BlockingIOError:
            pass
        except OSError:
            self.close(c)
            return
        if not c.out and c.closing and c.linger_until == 0.0:
            # Lingering close: our FIN follows the whole response, then we
            # read until the client's EOF so no unread byte turns close() into RST.
            c.sock.shutdown(socket.SHUT_WR)
            c.linger_until = time.monotonic() + LINGER_LIMIT
        self.watch(c)
        if (not c.out and self.successor and not c.stays and c.idle()
                and c.sock.fileno() in self.conns):
            self.pass_on([c])  # draining: idle now that its answer is out

    def work(self, c):
        """Answers what the bytes in hand ask, then passes the connection on
        if we drain and it is idle."""
        while not c.waiting and not c.closing and b"\r\n\r\n" in c.inbuf:
            head, _, rest = bytes(c.inbuf).partition(b"\r\n\r\n")
            c.inbuf = bytearray(rest)
            status, body, delay, keep = respond(head)
            if delay:
                c.waiting = (status, body, keep)
                self.serial += 1
                heapq.heappush(self.timers, (time.monotonic() + delay, self.serial, c))
                break
            self.answer(c, status, body, keep)
        if not c.closing and b"\r\n\r\n" not in c.inbuf and len(c.inbuf) > HEAD_LIMIT:
            self.answer(c, "431 Request Header Fields Too Large", "too large\n", False)
        if (self.successor and not c.stays and c.idle() and c.watched
                and c.sock.fileno() in self.conns):
            self.pass_on([c])

    def readable(self, c):
        if c.closing:
            try:
                if not c.sock.recv(4096):
                    self.close(c)
            except BlockingIOError:
                pass
            except OSError:
                self.close(c)
            return
        try:
            data = c.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.close(c)
            return
        c.inbuf += data
        self.work(c)

    # -- moving connections out

    def pass_on(self, conns):
        """Sends idle connections to the successor: socket, unread bytes. They
        stay open here, unwatched, until it answers."""
        for c in conns:
            self.unwatch(c)  # epoll reports a descriptor while any copy is open
        self.to_pass += conns
        self.send_passes()

    def send_passes(self):
        while self.to_pass and self.successor:
            batch, size = [], 0
            for c in self.to_pass[:BATCH]:
                if batch and size + len(c.inbuf) > BATCH_BYTES:
                    break
                batch.append(c)
                size += len(c.inbuf)
            ids = list(range(self.next_id, self.next_id + len(batch)))
            message = wire_message(CONNECTIONS, [
                [(ID, struct.pack("<Q", i)), (PENDING, bytes(c.inbuf))] for i, c in zip(ids, batch)])
            try:
                socket.send_fds(self.successor, [message], [c.sock.fileno() for c in batch])
            except BlockingIOError:  # no room: when the channel says so
                self.selector.modify(self.successor, selectors.EVENT_READ | selectors.EVENT_WRITE,
                                     "successor")
                return
            except OSError as e:
                log(f"cannot pass connections ({e.strerror}): ending them myself")
                self.successor_gone()
                return
            self.next_id += len(batch)
            del self.to_pass[:len(batch)]
            for i, c in zip(ids, batch):
                self.in_flight[i] = c
            self.batches.append(ids)
        if self.successor:
            self.selector.modify(self.successor, selectors.EVENT_READ, "successor")

    def decided(self, i, taken):
        c = self.in_flight.pop(i, None)
        if not c:
            return
        if taken:
            self.moved_out += 1
            self.conns.pop(c.sock.fileno(), None)
            c.sock.close()
        else:  # ours again: served to the end here
            c.stays = True
            self.watch(c)
            self.work(c)

    def successor_answered(self):
        try:
            data = self.successor.recv(MESSAGE_MAX)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.successor_gone()
            return
        try:
            kind, records = wire_parse(data)
        except ValueError as e:
            log(f"successor's answer ignored: {e}")
            return
        if kind == REFUSED and not records and self.batches:
            records = [{ID: i} for i in self.batches[0]]  # a whole message refused
        for r in records:
            self.decided(r[ID], kind == TAKEN)
        self.batches = [[i for i in b if i in self.in_flight] for b in self.batches]
        self.batches = [b for b in self.batches if b]

    def successor_gone(self):
        if self.successor:
            self.selector.unregister(self.successor)
            self.successor.close()
            self.successor = None
        waiting, self.to_pass = self.to_pass, []
        for c in waiting:  # never sent: ours, served to the end here
            c.stays = True
            self.watch(c)
        for i in list(self.in_flight):
            self.decided(i, False)

    # -- taking connections in

    def predecessor_sent(self):
        try:
            data, fds, flags, _ = socket.recv_fds(self.predecessor, MESSAGE_MAX, RECORDS_MAX,
                                                  socket.MSG_CMSG_CLOEXEC)
        except BlockingIOError:
            return
        except OSError:
            data, fds, flags = b"", [], 0
        if not data:
            self.predecessor_gone()
            return
        try:
            kind, records = wire_parse(data)
            why = ("not connections" if kind != CONNECTIONS
                   else "cut short" if flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC)
                   else f"{len(fds)} descriptors for {len(records)} connections"
                   if len(fds) != len(records) else None)
        except ValueError as e:
            kind, records, why = None, [], str(e)
        if why:
            log(f"refused a message from the previous generation: {why}")
            for fd in fds:
                os.close(fd)
            # Each record named, if it could be read; else one naming none,
            # the whole message back. Never both: the sender would apply the
            # empty one to its next message in flight.
            if kind == CONNECTIONS and records:
                self.answer_predecessor(wire_answer(REFUSED, [r[ID] for r in records],
                                                    errno.EPROTO))
            else:
                self.answer_predecessor(wire_message(REFUSED, []))
            return
        taken, refused = [], []
        for r, fd in zip(records, fds):
            try:
                sock = socket.socket(fileno=fd)
                error = errno.EOPNOTSUPP if r.get("critical") else 0
            except OSError:
                os.close(fd)
                sock, error = None, errno.ENOTSOCK
            if error:
                if sock:
                    sock.close()
                refused.append((r[ID], error))
                continue
            self.add(sock, r.get(PENDING, b""))
            taken.append(r[ID])
        self.moved_in += len(taken)
        if taken:
            self.answer_predecessor(wire_answer(TAKEN, taken))
        for i, error in refused:
            self.answer_predecessor(wire_answer(REFUSED, [i], error))

    def answer_predecessor(self, message):
        self.answers.append(message)
        self.send_answers()

    def send_answers(self):
        while self.answers and self.predecessor:
            try:
                self.predecessor.send(self.answers[0])
            except BlockingIOError:  # no room: when the channel says so
                self.selector.modify(self.predecessor,
                                     selectors.EVENT_READ | selectors.EVENT_WRITE, "predecessor")
                return
            except OSError:  # it is gone: what it passed is ours already
                self.predecessor_gone()
                return
            self.answers.pop(0)
        if self.predecessor:
            self.selector.modify(self.predecessor, selectors.EVENT_READ, "predecessor")

    def predecessor_gone(self):
        self.selector.unregister(self.predecessor)
        self.predecessor.close()
        self.predecessor = None
        self.answers = []

    # -- the supervisor

    def introduced(self):
        try:
            said = introduction(self.supervisor)
        except (EOFError, OSError):
            self.selector.unregister(self.supervisor)
            self.supervisor.close()
            self.supervisor = None
            return
        if not said:
            return
        role, pid, fd = said
        channel = socket.socket(fileno=fd)
        channel.setblocking(False)  # our own end: sends queue instead of waiting
        if role == "predecessor" and self.passing and not self.predecessor:
            self.predecessor = channel
            self.selector.register(channel, selectors.EVENT_READ, "predecessor")
            log(f"taking connections from pid {pid}")
        elif role == "successor" and self.passing and not self.successor and not self.draining:
            # Connections our predecessor still passes us are passed on in
            # turn (add(), then work()): taking and passing at once is safe here.
            self.successor = channel
            self.selector.register(channel, selectors.EVENT_READ, "successor")
            log(f"passing our connections to pid {pid}")
            self.drain()
        else:
            channel.close()
            if role == "successor":
                self.drain()  # still the request to drain: the classic way

    # -- the loop

    def drain(self):
        if self.draining:
            return
        self.draining = True
        self.deadline = time.monotonic() + DRAIN_LIMIT
        # Stop accepting at once: close() our copies. The accept queue lives
        # on in the next generation; shutdown() here would reset it for everyone.
        for sock in self.listeners:
            self.selector.unregister(sock)
            sock.close()
        self.listeners = []
        # With a successor, idle connections go now and busy ones once
        # answered (work()); without, each one's next response is its last.
        if self.successor:
            self.pass_on([c for c in self.conns.values() if c.idle()])

    def accept(self, sock):
        # Readable means a connection was queued, but the generation sharing
        # this queue may have taken it first: then accept() on an O_NONBLOCK
        # listener says EAGAIN.
        for _ in range(64):
            try:
                conn, _ = sock.accept()
            except (BlockingIOError, ConnectionAbortedError):
                return
            self.add(conn)

    def run(self):
        while True:
            now = time.monotonic()
            while self.timers and self.timers[0][0] <= now:
                _, _, c = heapq.heappop(self.timers)
                if c.waiting and c.sock.fileno() in self.conns:
                    status, body, keep = c.waiting
                    c.waiting = None
                    self.answer(c, status, body, keep)
                    self.work(c)
            for c in [c for c in self.conns.values() if c.linger_until and c.linger_until <= now]:
                self.close(c)
            if self.draining and not self.conns and not self.in_flight and not self.to_pass:
                return
            if self.draining and now >= self.deadline:
                log(f"{len(self.conns)} connections cut at the {DRAIN_LIMIT:g} s limit")
                return
            wakes = [t[0] for t in self.timers[:1]] + [c.linger_until for c in self.conns.values()
                                                      if c.linger_until]
            if self.draining:
                wakes.append(self.deadline)
            timeout = max(0.0, min(wakes) - now) if wakes else None
            events = self.selector.select(timeout)
            if self.supervisor and any(k.data == "supervisor" for k, _ in events):
                self.introduced()
            for key, mask in events:
                if key.data == "wake":
                    self.wake[0].recv(64)
                elif key.data == "listener":
                    if not self.draining:
                        self.accept(key.fileobj)
                elif key.data == "successor":
                    if self.successor and mask & selectors.EVENT_READ:
                        self.successor_answered()
                    if self.successor and mask & selectors.EVENT_WRITE:
                        self.send_passes()
                elif key.data == "predecessor":
                    if self.predecessor and mask & selectors.EVENT_READ:
                        self.predecessor_sent()
                    if self.predecessor and mask & selectors.EVENT_WRITE:
                        self.send_answers()
                elif isinstance(key.data, Conn):
                    c = key.data
                    if c.sock.fileno() not in self.conns or not c.watched:
                        continue
                    if mask & selectors.EVENT_WRITE:
                        self.flush(c)
                    if mask & selectors.EVENT_READ and c.sock.fileno() in self.conns:
                        self.readable(c)
            if self.stop_signalled and not self.draining:
                self.drain()


def main():
    passing = "--no-pass" not in sys.argv[1:]
    listeners = adopt_listeners()
    if not listeners:
        sys.exit(f"pyserver[{PID}]: no listening sockets passed (LISTEN_FDS, LISTEN_PID):"
                 " run me under 'handoff run' or systemd socket activation; I never bind")
    supervised = os.environ.pop("HANDOFF_SUPERVISOR", "") == "1"
    channel = take_channel("HANDOFF_FD")  # a libhandoff parent's
    supervisor = take_channel("HANDOFF_CHANNEL_FD") if supervised else None
    server = Server(listeners, supervisor, passing and supervisor is not None)
    try:
        notify("READY=1" + ("\nHANDOFF_CONNECTIONS=1" if server.passing else ""))
        if channel:
            # A libhandoff program that upgraded itself to us waits for this
            # line: version 1 of its protocol, without "connections=", so it
            # ends its connections itself. The channel stays open: its end is ours.
            channel.send(f"handoff 1 ready pid={PID} generation={GENERATION}\n".encode())
    except OSError as e:
        sys.exit(f"pyserver[{PID}]: cannot say ready: {e.strerror}")
    fds = ", ".join(str(s.fileno()) for s in listeners)
    log(f"ready on fd{'s' if len(listeners) > 1 else ''} {fds}")
    server.run()
    log(f"exiting: served {server.served} requests; connections passed on "
        f"{server.moved_out}, taken over {server.moved_in}")
    os._exit(0)


if __name__ == "__main__":
    main()
