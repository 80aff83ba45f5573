package sdk

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/bluenviron/gortsplib/v4/pkg/base"
)

// maxRedirects is how many DESCRIBE redirects one Open follows.
const maxRedirects = 3

// Redirect errors, permanent: they come from the source's configuration.
var (
	// ErrRedirectRefused: the source redirected to a URL the handle's
	// RedirectPolicy does not allow.
	ErrRedirectRefused = errors.New("redirect refused")
	// ErrTooManyRedirects: the source redirected more than 3 times.
	ErrTooManyRedirects = errors.New("too many redirects")
)

// RedirectPolicy says which DESCRIBE redirects (3xx with a Location) a
// handle follows. Whatever the policy, at most 3 redirects are followed,
// rtsps is never downgraded to rtsp, and the URL's credentials are sent
// only to the host they were given for.
type RedirectPolicy int

// Redirect policies.
const (
	// RedirectSameHost follows redirects to the same host name (any port).
	RedirectSameHost RedirectPolicy = iota
	// RedirectAny follows redirects to any host, without credentials.
	RedirectAny
	// RedirectNone follows no redirect.
	RedirectNone
)

// redirectPolicyNames are the RedirectPolicies' names, by value.
var redirectPolicyNames = []string{"same_host", "any", "none"}

// ParseRedirectPolicy parses "same_host", "any" or "none"; "" means
// same_host.
func ParseRedirectPolicy(s string) (RedirectPolicy, error) {
	return parseEnum[RedirectPolicy](s, "redirect policy", redirectPolicyNames)
}

func (p RedirectPolicy) String() string { return enumName(p, redirectPolicyNames) }

// redirectCatcher keeps gortsplib from following DESCRIBE redirects itself
// (it would copy the credentials onto any host and follow without limit):
// its OnResponse hook takes the Location out of a 3xx answer to DESCRIBE,
// so that Describe fails with the status code and the SDK decides.
// gortsplib calls both hooks on the goroutine running the request.
type redirectCatcher struct {
	mu       sync.Mutex
	method   base.Method
	location string
}

func (r *redirectCatcher) onRequest(req *base.Request) {
	r.mu.Lock()
	r.method = req.Method
	r.mu.Unlock()
}

func (r *redirectCatcher) onResponse(res *base.Response) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.method != base.Describe || res.StatusCode < base.StatusMovedPermanently || res.StatusCode > base.StatusUseProxy {
		return
	}
	if loc := res.Header["Location"]; len(loc) == 1 {
		r.location = loc[0]
	}
	delete(res.Header, "Location")
}

// take returns the Location of the last redirect, once.
func (r *redirectCatcher) take() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	loc := r.location
	r.location = ""
	return loc
}

// redirectError is what play returns for a DESCRIBE redirected to location.
type redirectError struct {
	location string
	err      error
}

func (e *redirectError) Error() string { return e.err.Error() }
func (e *redirectError) Unwrap() error { return e.err }

// redirectTarget returns the URL a redirect from cur to location leads to
// under policy, hop being its number (1 for the first), or why it is not
// followed. orig is the URL the handle was opened with: its credentials go
// only to its own host name; credentials in a Location are ignored.
func redirectTarget(orig, cur *base.URL, location string, hop int, policy RedirectPolicy) (*base.URL, error) {
	red := Redact(location)
	if policy == RedirectNone {
		return nil, fmt.Errorf("%w to %s: follow_redirects is none", ErrRedirectRefused, red)
	}
	if hop > maxRedirects {
		return nil, fmt.Errorf("%w: more than %d, the last to %s", ErrTooManyRedirects, maxRedirects, red)
	}
	next, err := base.ParseURL(location)
	if err != nil || next.Host == "" || (next.Scheme != "rtsp" && next.Scheme != "rtsps") {
		return nil, fmt.Errorf("%w to %s: not an rtsp url", ErrRedirectRefused, red)
	}
	if cur.Scheme == "rtsps" && next.Scheme != "rtsps" {
		return nil, fmt.Errorf("%w to %s: rtsps cannot be downgraded to rtsp", ErrRedirectRefused, red)
	}
	same := strings.EqualFold(next.Hostname(), orig.Hostname())
	if !same && policy == RedirectSameHost {
		return nil, fmt.Errorf("%w to %s: another host (follow_redirects is same_host)", ErrRedirectRefused, red)
	}
	next.User = nil
	if same {
		next.User = orig.User
	}
	return next, nil
}

// FollowRedirect applies policy to a redirect from cur to location, hop
// being its number (1 for the first), for a backend that catches redirects
// itself (package gst): it returns the URL to open next, carrying orig's
// credentials only when it is on orig's host name, or why the redirect is
// not followed (an error wrapping ErrRedirectRefused or
// ErrTooManyRedirects, without credentials).
func FollowRedirect(orig, cur *base.URL, location string, hop int, policy RedirectPolicy) (*base.URL, error) {
	return redirectTarget(orig, cur, location, hop, policy)
}
