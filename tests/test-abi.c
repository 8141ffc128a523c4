/* test-abi.c — the shape of libhandoff's binary interface: what the shared
 * library exports, read from its ELF dynamic symbol table (no nm needed). */
#include "harness.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct elf_image {
	const unsigned char *data;
	size_t size;
	const Elf64_Ehdr *header;
	const Elf64_Shdr *sections;
};

static const Elf64_Shdr *section_of_type(const struct elf_image *elf,
					 unsigned type)
{
	for (unsigned i = 0; i < elf->header->e_shnum; i++)
		if (elf->sections[i].sh_type == type)
			return &elf->sections[i];
	return NULL;
}

static const char *string_at(const struct elf_image *elf,
			     const Elf64_Shdr *table, size_t offset)
{
	if (offset >= table->sh_size || table->sh_offset + table->sh_size > elf->size)
		FAIL("string offset %zu out of bounds", offset);
	return (const char *)elf->data + table->sh_offset + offset;
}

static void elf_open(struct elf_image *elf, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		FAIL("%s: %s", path, strerror(errno));
	elf->size = (size_t)st.st_size;
	elf->data = mmap(NULL, elf->size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (elf->data == MAP_FAILED || elf->size < sizeof(Elf64_Ehdr) ||
	    memcmp(elf->data, ELFMAG, SELFMAG) != 0 ||
	    elf->data[EI_CLASS] != ELFCLASS64)
		FAIL("%s is not a 64-bit ELF file", path);
	elf->header = (const Elf64_Ehdr *)elf->data;
	if (elf->header->e_shoff + (size_t)elf->header->e_shnum * sizeof(Elf64_Shdr) > elf->size)
		FAIL("%s: section headers out of bounds", path);
	elf->sections = (const Elf64_Shdr *)(elf->data + elf->header->e_shoff);
}

/* DT_SONAME, from the dynamic section. */
static const char *soname(const struct elf_image *elf)
{
	const Elf64_Shdr *dynamic = section_of_type(elf, SHT_DYNAMIC);
	if (!dynamic)
		return NULL;
	const Elf64_Shdr *strings = &elf->sections[dynamic->sh_link];
	const Elf64_Dyn *d = (const Elf64_Dyn *)(elf->data + dynamic->sh_offset);
	for (size_t i = 0; i < dynamic->sh_size / sizeof *d && d[i].d_tag != DT_NULL; i++)
		if (d[i].d_tag == DT_SONAME)
			return string_at(elf, strings, d[i].d_un.d_val);
	return NULL;
}

void test_library_exports_only_public_symbols(void)
{
	struct elf_image elf;
	elf_open(&elf, bin_path("libhandoff.so"));
	ASSERT_STR_EQ(soname(&elf), "libhandoff.so.1");
	const Elf64_Shdr *dynsym = section_of_type(&elf, SHT_DYNSYM);
	ASSERT(dynsym != NULL);
	const Elf64_Shdr *strings = &elf.sections[dynsym->sh_link];
	const Elf64_Sym *sym = (const Elf64_Sym *)(elf.data + dynsym->sh_offset);
	size_t count = dynsym->sh_size / sizeof *sym, public = 0;
	char stray[1024] = "";
	for (size_t i = 1; i < count; i++) {
		const char *name = string_at(&elf, strings, sym[i].st_name);
		int binding = ELF64_ST_BIND(sym[i].st_info);
		if (sym[i].st_shndx == SHN_UNDEF ||
		    (binding != STB_GLOBAL && binding != STB_WEAK))
			continue; /* imported, or not visible outside */
		if (strncmp(name, "handoff_", 8) == 0)
			public++;
		else if (!(sym[i].st_shndx == SHN_ABS && strcmp(name, "HANDOFF_1") == 0))
			snprintf(stray + strlen(stray), sizeof stray - strlen(stray),
				 " %s", name); /* the version node itself is fine */
	}
	if (stray[0])
		FAIL("libhandoff.so exports more than handoff_*:%s", stray);
	/* The public API is there at all (the table was read). */
	ASSERT(public >= 20);
	munmap((void *)elf.data, elf.size);
}

/* The run-time version is the header's, in both forms (both come from
 * the three macros; this holds them to it). */
void test_library_version_matches_header(void)
{
	char want[32];
	snprintf(want, sizeof want, "%d.%d.%d", HANDOFF_VERSION_MAJOR,
		 HANDOFF_VERSION_MINOR, HANDOFF_VERSION_PATCH);
	ASSERT_STR_EQ(handoff_version(), want);
	ASSERT_EQ(handoff_version_number(), HANDOFF_VERSION_NUMBER);
	ASSERT_EQ(HANDOFF_VERSION_NUMBER, HANDOFF_VERSION_MAJOR * 10000 +
		  HANDOFF_VERSION_MINOR * 100 + HANDOFF_VERSION_PATCH);
}

/* struct handoff_config is read the way openat2(2) reads struct open_how:
 * what fits in .size, the rest defaulted; an unknown non-zero tail is
 * refused rather than ignored. */
void test_config_extensible(void)
{
	char *argv[] = { self_exe, NULL };
	struct handoff *h = (struct handoff *)1;
	ASSERT_EQ(handoff_new(NULL, NULL, 1, argv), -EINVAL);
	ASSERT_EQ(handoff_new(&h, NULL, 1, argv), 0); /* all defaults */
	handoff_free(h);

	struct handoff_config config = HANDOFF_CONFIG_INIT;
	ASSERT_EQ(config.size, sizeof config);
	ASSERT_EQ(handoff_new(&h, &config, 1, argv), 0);
	handoff_free(h);
	config.size = 0;
	ASSERT_EQ(handoff_new(&h, &config, 1, argv), -EINVAL);
	ASSERT(h == NULL);
	config.size = HANDOFF_CONFIG_SIZE_VER1 - 1;
	ASSERT_EQ(handoff_new(&h, &config, 1, argv), -EINVAL);

	/* A program built against a newer header: its fields are read, and a
	 * zero tail (new options left at their defaults) is accepted... */
	struct {
		struct handoff_config known;
		unsigned char newer[16];
	} bigger = { .known = { .pidfile = work_path("bigger.pid") } };
	bigger.known.size = sizeof bigger;
	ASSERT_EQ(handoff_new(&h, &bigger.known, 1, argv), 0);
	ASSERT(handoff_listen(h, NULL, "127.0.0.1:0") > 2);
	ASSERT_EQ(handoff_ready(h), 0);
	ASSERT_EQ(read_pid(work_path("bigger.pid")), getpid());
	handoff_free(h);
	ASSERT(access(work_path("bigger.pid"), F_OK) < 0);
	/* ...a request this library cannot honour is not silently dropped. */
	bigger.newer[15] = 1;
	ASSERT_EQ(handoff_new(&h, &bigger.known, 1, argv), -E2BIG);
	ASSERT(h == NULL);
	config.size = (size_t)1 << 40; /* not a size: never read that far */
	ASSERT_EQ(handoff_new(&h, &config, 1, argv), -E2BIG);
}
