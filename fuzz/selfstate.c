/* selfstate.c — self_state_parse(), the state `handoff reload --self`
 * hands to the next image. Whatever the bytes: no crash, no read past
 * them; a refusal says why; an accepted state keeps its bounds (counts,
 * descriptors named once, above stdio) and survives being written and
 * read again unchanged, so that what one image writes the next reads. */
#include "check.h"
#include "selfstate.h"

#include <errno.h>

static struct self_state first, second;

static char *write_text(const struct self_state *s, size_t *length)
{
	char *text = NULL;
	FILE *f = open_memstream(&text, length);
	CHECK(f);
	CHECK(self_state_write(s, f) == 0);
	CHECK(fclose(f) == 0);
	return text;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char why[512] = "";
	char *copy = malloc(size ? size : 1);
	CHECK(copy);
	memcpy(copy, data, size); /* exactly size bytes: ASan sees an overread */
	int r = self_state_parse(copy, size, &first, why, sizeof why);
	free(copy);
	if (r < 0) {
		CHECK(r == -EINVAL);
		CHECK(why[0]);
		return 0;
	}
	CHECK(r == 0);
	CHECK(first.listener_count >= 1 && first.listener_count <= MAX_LISTENERS);
	CHECK(first.generation_count >= 0 && first.generation_count <= CORE_RECORDS_MAX);
	/* A generation's workers: each index once, within --workers's bound. */
	for (int i = 0; i < first.generation_count; i++) {
		CHECK(first.gens[i].g.worker >= 0 && first.gens[i].g.worker < CORE_WORKERS_MAX);
		for (int j = 0; j < i; j++)
			CHECK(first.gens[j].g.number != first.gens[i].g.number ||
			      first.gens[j].g.worker != first.gens[i].g.worker);
	}
	CHECK(first.pid >= 1);
	for (int i = 0; i < first.listener_count; i++)
		CHECK(first.listeners[i].fd > 2);
	CHECK(self_state_validate(&first, why, sizeof why) == 0);

	size_t length, again_length;
	char *text = write_text(&first, &length);
	CHECK(self_state_parse(text, length, &second, why, sizeof why) == 0);
	char *again = write_text(&second, &again_length);
	CHECK(length == again_length && memcmp(text, again, length) == 0);
	free(text);
	free(again);
	return 0;
}
