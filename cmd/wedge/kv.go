package main

import (
	"context"
	"errors"

	"github.com/wedgeworks/wedge/hostapi"
	"github.com/wedgeworks/wedge/store"
)

// storeKV adapts the store's KV namespaces to the guests' kv_* host
// functions.
type storeKV struct{ st store.Store }

func (k storeKV) Get(ctx context.Context, tenant, ns, key string) ([]byte, error) {
	v, err := k.st.KVGet(ctx, tenant, ns, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil, hostapi.ErrKVNotFound
	}
	return v, err
}

func (k storeKV) Put(ctx context.Context, tenant, ns, key string, value []byte) error {
	return k.st.KVPut(ctx, tenant, ns, key, value)
}

func (k storeKV) Delete(ctx context.Context, tenant, ns, key string) error {
	if err := k.st.KVDelete(ctx, tenant, ns, key); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return nil
}

func (k storeKV) List(ctx context.Context, tenant, ns, prefix string, limit int) ([]string, error) {
	return k.st.KVList(ctx, tenant, ns, prefix, "", limit)
}
