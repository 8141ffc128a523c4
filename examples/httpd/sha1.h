/* sha1.h — SHA-1 (FIPS 180-4), for the WebSocket handshake only.
 *
 * RFC 6455 derives Sec-WebSocket-Accept from SHA-1; no security rests on
 * it there. A dozen lines of arithmetic keep httpd free of libraries. */
#ifndef HTTPD_SHA1_H
#define HTTPD_SHA1_H

#include <stddef.h>

enum { SHA1_SIZE = 20 };

void sha1(const void *data, size_t len, unsigned char digest[SHA1_SIZE]);

#endif
