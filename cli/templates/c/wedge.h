/*
 * wedge.h — the Wedge guest ABI, version 1, for C (docs/abi.md).
 *
 * Build a worker as a WASI reactor that exports wedge_handle:
 *
 *   clang --target=wasm32-wasi -mexec-model=reactor -O2 \
 *       -Wl,--export=wedge_handle -o worker.wasm worker.c
 *
 * Heads are name/value pairs, each string a little-endian u32 length then
 * its bytes. wedge_field_next walks them; wedge_head_append builds them.
 */
#ifndef WEDGE_H
#define WEDGE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define WEDGE_IMPORT(name) __attribute__((import_module("wedge_v1"), import_name(name)))

WEDGE_IMPORT("request_head") int32_t wedge_request_head(uint8_t *buf, uint32_t cap);
WEDGE_IMPORT("request_body_read") int32_t wedge_request_body_read(uint8_t *buf, uint32_t cap);
WEDGE_IMPORT("response_head") int32_t wedge_response_head(const uint8_t *buf, uint32_t len);
WEDGE_IMPORT("response_body_write") int32_t wedge_response_body_write(const uint8_t *buf, uint32_t len);
WEDGE_IMPORT("response_flush") int32_t wedge_response_flush(void);

/* Outbound requests and the edge cache (docs/abi.md): handles are per request. */
WEDGE_IMPORT("fetch_send") int32_t wedge_fetch_send(const uint8_t *head, uint32_t len);
WEDGE_IMPORT("fetch_body_write") int32_t wedge_fetch_body_write(int32_t handle, const uint8_t *buf, uint32_t len);
WEDGE_IMPORT("fetch_body_close") int32_t wedge_fetch_body_close(int32_t handle);
WEDGE_IMPORT("fetch_response_head") int32_t wedge_fetch_response_head(int32_t handle, uint8_t *buf, uint32_t cap);
WEDGE_IMPORT("fetch_body_read") int32_t wedge_fetch_body_read(int32_t handle, uint8_t *buf, uint32_t cap);
WEDGE_IMPORT("fetch_close") int32_t wedge_fetch_close(int32_t handle);
WEDGE_IMPORT("cache_match") int32_t wedge_cache_match(const uint8_t *head, uint32_t len);
WEDGE_IMPORT("cache_put") int32_t wedge_cache_put(const uint8_t *req, uint32_t req_len, const uint8_t *resp, uint32_t resp_len, const uint8_t *body, uint32_t body_len);
WEDGE_IMPORT("cache_delete") int32_t wedge_cache_delete(const uint8_t *head, uint32_t len);
WEDGE_IMPORT("cache_fetch") int32_t wedge_cache_fetch(const uint8_t *head, uint32_t len);
WEDGE_IMPORT("error_message") int32_t wedge_error_message(uint8_t *buf, uint32_t cap);

/* KV namespaces bound in wedge.toml. */
WEDGE_IMPORT("kv_get") int32_t wedge_kv_get(const uint8_t *ns, uint32_t ns_len, const uint8_t *key, uint32_t key_len, uint8_t *buf, uint32_t cap);
WEDGE_IMPORT("kv_put") int32_t wedge_kv_put(const uint8_t *ns, uint32_t ns_len, const uint8_t *key, uint32_t key_len, const uint8_t *value, uint32_t value_len);
WEDGE_IMPORT("kv_delete") int32_t wedge_kv_delete(const uint8_t *ns, uint32_t ns_len, const uint8_t *key, uint32_t key_len);
WEDGE_IMPORT("kv_list") int32_t wedge_kv_list(const uint8_t *ns, uint32_t ns_len, const uint8_t *prefix, uint32_t prefix_len, uint8_t *buf, uint32_t cap);

/* Error codes returned by the functions above. */
enum {
	WEDGE_EBADSTATE = -1, WEDGE_EINVAL = -2, WEDGE_EIO = -3, WEDGE_ETOOLARGE = -4,
	WEDGE_EDENIED = -5, WEDGE_ELIMIT = -6, WEDGE_ENOTFOUND = -7, WEDGE_EBADHANDLE = -8
};

/* A view of one string inside a head. */
typedef struct { const uint8_t *ptr; uint32_t len; } wedge_str;

static inline uint32_t wedge__u32(const uint8_t *p) {
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* wedge_field_next reads the pair at *pos of head[0:len]; 0 at the end or on a malformed head. */
static inline int wedge_field_next(const uint8_t *head, uint32_t len, uint32_t *pos, wedge_str *name, wedge_str *value) {
	wedge_str *out[2] = {name, value};
	for (int i = 0; i < 2; i++) {
		if (len - *pos < 4 || *pos > len) return 0;
		uint32_t n = wedge__u32(head + *pos);
		*pos += 4;
		if (n > len - *pos) return 0;
		out[i]->ptr = head + *pos;
		out[i]->len = n;
		*pos += n;
	}
	return 1;
}

/* wedge_head_append appends one string to a head being built in buf (cap bytes); returns the new length, or 0 if full. */
static inline uint32_t wedge_head_append(uint8_t *buf, uint32_t cap, uint32_t len, const char *s, uint32_t n) {
	if (cap - len < 4 + n || len > cap) return 0;
	buf[len] = n; buf[len + 1] = n >> 8; buf[len + 2] = n >> 16; buf[len + 3] = n >> 24;
	memcpy(buf + len + 4, s, n);
	return len + 4 + n;
}

#endif
