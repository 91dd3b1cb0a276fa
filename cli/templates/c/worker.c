// worker.c — a Wedge worker in C: answers "Hello from <path>".
//
// wedge.h is the whole guest ABI (docs/abi.md in the Wedge repository): a
// worker is a WASI reactor that exports wedge_handle, called once per
// request. wedge build runs the command in wedge.toml's [build]:
//
//   clang --target=wasm32-wasi -mexec-model=reactor -O2 \
//       -Wl,--export=wedge_handle -o build/worker.wasm worker.c
#include "wedge.h"

static uint8_t head[4096];

__attribute__((export_name("wedge_handle"))) void wedge_handle(void) {
	int32_t n = wedge_request_head(head, sizeof head);
	if (n < 0 || (uint32_t)n > sizeof head) {
		static const uint8_t bad[] = "\x07\0\0\0:status\x03\0\0\0" "431";
		wedge_response_head(bad, sizeof bad - 1);
		return;
	}
	// The request head: pseudo-fields first (":method", ":url" as
	// scheme://host/path?query, …), then the header fields.
	const uint8_t *path = (const uint8_t *)"/";
	uint32_t path_len = 1;
	wedge_str name, value;
	uint32_t pos = 0;
	while (wedge_field_next(head, n, &pos, &name, &value)) {
		if (name.len == 4 && memcmp(name.ptr, ":url", 4) == 0) {
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
