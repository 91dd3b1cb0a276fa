package cache_test

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/wedgeworks/wedge/cache"
)

func Example() {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	c, err := cache.New(cache.Config{Now: func() time.Time { return now }})
	if err != nil {
		panic(err)
	}
	defer c.Close()

	req := cache.Request{Method: http.MethodGet, URL: "https://example.com/greeting"}
	resp := cache.Response{
		Status: http.StatusOK,
		Header: http.Header{"Cache-Control": {"max-age=300"}, "Date": {now.Format(http.TimeFormat)}},
		Body:   []byte("hello"),
	}
	if err := c.Put("acme", req, resp); err != nil {
		panic(err)
	}

	now = now.Add(42 * time.Second)
	if e, ok := c.Match("acme", req); ok {
		fmt.Printf("%d %s, Age: %d\n", e.Status, e.Body, e.Age)
	}
	if _, ok := c.Match("globex", req); !ok {
		fmt.Println("another tenant misses")
	}

	err = c.Put("acme", req, cache.Response{Status: http.StatusOK, Header: http.Header{"Cache-Control": {"private, max-age=60"}}})
	fmt.Println(err)
	// Output:
	// 200 hello, Age: 42
	// another tenant misses
	// not stored: response has Cache-Control: private
}

func ExampleCache_Fetch() {
	c, err := cache.New(cache.Config{})
	if err != nil {
		panic(err)
	}
	defer c.Close()

	origin := func(ctx context.Context) (cache.Response, error) {
		// In a worker's host call: the outbound request.
		return cache.Response{
			Status: http.StatusOK,
			Header: http.Header{"Cache-Control": {"public, max-age=60"}},
			Body:   []byte("from the origin"),
		}, nil
	}
	req := cache.Request{URL: "https://api.example.com/prices"}
	for range 2 {
		e, err := c.Fetch(context.Background(), "acme", req, origin)
		if err != nil {
			panic(err)
		}
		fmt.Printf("%s (from the cache: %v)\n", e.Body, e.FromCache)
	}
	// Output:
	// from the origin (from the cache: false)
	// from the origin (from the cache: true)
}
