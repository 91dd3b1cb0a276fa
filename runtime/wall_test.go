package runtime

import (
	"context"
	"errors"
	"testing"
	"time"
)

type wallKey struct{}

// TestWallContext: a wall context behaves as the
// context.WithTimeoutCause(parent, d, errWallTime) it stands for, whether
// or not anything asked for its Done.
func TestWallContext(t *testing.T) {
	parentCause := errors.New("the client went away")
	tests := []struct {
		name      string
		d         time.Duration
		done      bool // ask for Done before the end
		cancel    bool // cancel the parent
		wantErr   error
		wantCause error
	}{
		{"deadline, no timer", 5 * time.Millisecond, false, false, context.DeadlineExceeded, errWallTime},
		{"deadline, timer", 5 * time.Millisecond, true, false, context.DeadlineExceeded, errWallTime},
		{"parent canceled, no timer", time.Hour, false, true, context.Canceled, parentCause},
		{"parent canceled, timer", time.Hour, true, true, context.Canceled, parentCause},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent, cancel := context.WithCancelCause(context.WithValue(context.Background(), wallKey{}, "v"))
			defer cancel(nil)
			w := newWallContext(parent, tt.d)
			defer w.stop()
			if w.Err() != nil || cause(w) != nil {
				t.Fatalf("before the end: err %v, cause %v", w.Err(), cause(w))
			}
			if w.Value(wallKey{}) != "v" {
				t.Errorf("Value: %v, want the parent's", w.Value(wallKey{}))
			}
			if d, ok := w.Deadline(); !ok || time.Until(d) > tt.d {
				t.Errorf("Deadline %v %v", d, ok)
			}
			var done <-chan struct{}
			if tt.done {
				done = w.Done()
			}
			if tt.cancel {
				cancel(parentCause)
			} else {
				time.Sleep(tt.d)
			}
			if done != nil {
				<-done
			}
			if err := w.Err(); err != tt.wantErr {
				t.Errorf("Err %v, want %v", err, tt.wantErr)
			}
			if c := cause(w); c != tt.wantCause {
				t.Errorf("cause %v, want %v", c, tt.wantCause)
			}
			<-w.Done() // made after the end: already done
			if c := context.Cause(w); c != tt.wantCause {
				t.Errorf("context.Cause once made: %v, want %v", c, tt.wantCause)
			}
		})
	}
}

// TestWallContextStopped: Done asked for after stop is closed, and a child
// of a stopped wall context is canceled.
func TestWallContextStopped(t *testing.T) {
	for _, made := range []bool{false, true} {
		w := newWallContext(context.Background(), time.Hour)
		if made {
			w.Done()
		}
		w.stop()
		if w.Err() != context.Canceled {
			t.Errorf("made %v: Err %v after stop, before Done, want canceled", made, w.Err())
		}
		select {
		case <-w.Done():
		case <-time.After(10 * time.Second):
			t.Fatalf("made %v: Done after stop is not closed", made)
		}
		child, cancel := context.WithCancel(w)
		<-child.Done()
		cancel()
		if w.Err() != context.Canceled {
			t.Errorf("made %v: Err %v after stop, want canceled", made, w.Err())
		}
	}
}
