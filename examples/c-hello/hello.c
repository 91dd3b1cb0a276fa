// hello.c — examples/hello in C: answers "Hello from <path>".
// Build: make examples (needs clang, lld and wasi-libc).
#include "../../sdk/c/wedge.h"

static uint8_t head[4096];

__attribute__((export_name("wedge_handle"))) void wedge_handle(void) {
	int32_t n = wedge_request_head(head, sizeof head);
	if (n < 0 || (uint32_t)n > sizeof head) {
		static const uint8_t bad[] = "\x07\0\0\0:status\x03\0\0\0" "431";
		wedge_response_head(bad, sizeof bad - 1);
		return;
	}
	const uint8_t *path = (const uint8_t *)"/";
	uint32_t path_len = 1;
	wedge_str name, value;
	uint32_t pos = 0;
	while (wedge_field_next(head, n, &pos, &name, &value)) {
		if (name.len == 4 && memcmp(name.ptr, ":url", 4) == 0) {
			// scheme://host/path?query → /path
			uint32_t i = 0, slashes = 0;
			while (i < value.len && slashes < 3) if (value.ptr[i++] == '/') slashes++;
			if (slashes == 3) {
				uint32_t end = i;
				while (end < value.len && value.ptr[end] != '?') end++;
				path = value.ptr + i - 1;
				path_len = end - i + 1;
			}
		}
	}
	static uint8_t out[4200];
	uint32_t len = 0;
	len = wedge_head_append(out, sizeof out, len, ":status", 7);
	len = wedge_head_append(out, sizeof out, len, "200", 3);
	len = wedge_head_append(out, sizeof out, len, "content-type", 12);
	len = wedge_head_append(out, sizeof out, len, "text/plain; charset=utf-8", 25);
	wedge_response_head(out, len);
	static const char hello[] = "Hello from ";
	memcpy(out, hello, sizeof hello - 1);
	memcpy(out + sizeof hello - 1, path, path_len);
	out[sizeof hello - 1 + path_len] = '\n';
	wedge_response_body_write(out, sizeof hello + path_len);
}
