package avload

import (
	"errors"
	"testing"
)

func TestOnceLoadsOnceAndKeepsTheVerdict(t *testing.T) {
	for _, tc := range []struct {
		name    string
		ok      bool
		wantErr string
	}{
		{"a successful load returns nil every time", true, ""},
		{"a failed load wraps ErrUnavailable with the reason every time", false,
			"libavcodec could not be loaded: libavcodec.so.59: cannot open shared object file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var o Once
			calls := 0
			load := func(reason []byte) bool {
				calls++
				copy(reason, "libavcodec.so.59: cannot open shared object file\x00trailing junk")
				return tc.ok
			}
			for range 3 {
				err := o.Do(load)
				switch {
				case tc.ok && err != nil:
					t.Fatalf("Do = %v, want nil", err)
				case !tc.ok && (!errors.Is(err, ErrUnavailable) || err.Error() != tc.wantErr):
					t.Fatalf("Do = %v, want %q wrapping ErrUnavailable", err, tc.wantErr)
				}
			}
			if calls != 1 {
				t.Errorf("load called %d times, want 1", calls)
			}
		})
	}
}
