/* notify.c — notify_parse(), the datagrams the supervisor's generations
 * (and whatever they run) send to $NOTIFY_SOCKET. Checked against the
 * contract in tool/notify_in.h: READY=1, HANDOFF_CONNECTIONS=1, FDSTORE=1,
 * FDSTOREREMOVE=1 and FDPOLL=0 only as whole lines, the last STATUS= and FDNAME= lines win,
 * and point inside the message. */
#include "check.h"
#include "notify_in.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Its own allocation, exactly the datagram: one byte read past the
	 * end is an ASan report. */
	char *message = malloc(size ? size : 1);
	CHECK(message);
	memcpy(message, data, size);
	struct notify_fields f;
	memset(&f, 0x5a, sizeof f);
	notify_parse(message, size, &f);

	int ready = 0, connections = 0, store = 0, remove = 0, poll = 1;
	const char *status = NULL, *name = NULL;
	size_t status_length = 0, name_length = 0;
	for (size_t start = 0; start < size;) {
		size_t end = start;
		while (end < size && message[end] != '\n')
			end++;
		size_t n = end - start;
		if (n == 7 && memcmp(message + start, "READY=1", 7) == 0)
			ready = 1;
		if (n >= 7 && memcmp(message + start, "STATUS=", 7) == 0) {
			status = message + start + 7;
			status_length = n - 7;
		}
		if (n >= 7 && memcmp(message + start, "FDNAME=", 7) == 0) {
			name = message + start + 7;
			name_length = n - 7;
		}
		connections |= n == 21 && memcmp(message + start, "HANDOFF_CONNECTIONS=1", 21) == 0;
		store |= n == 9 && memcmp(message + start, "FDSTORE=1", 9) == 0;
		remove |= n == 15 && memcmp(message + start, "FDSTOREREMOVE=1", 15) == 0;
		if (n == 8 && memcmp(message + start, "FDPOLL=0", 8) == 0)
			poll = 0;
		start = end + 1;
	}
	CHECK(f.ready == ready);
	CHECK(f.connections == connections);
	CHECK(f.status == status);
	CHECK(f.store.store == store && f.store.remove == remove && f.store.poll == poll);
	CHECK(f.store.name == name);
	if (name) {
		CHECK(f.store.name_length == name_length);
		CHECK(f.store.name + name_length <= message + size);
	}
	if (status) {
		CHECK(f.status_length == status_length);
		CHECK(f.status >= message && f.status + f.status_length <= message + size);
		CHECK(!memchr(f.status, '\n', f.status_length));
	}
	free(message);
	return 0;
}
