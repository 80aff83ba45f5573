package sdk

import (
	"net/url"
	"regexp"
	"strings"
)

// secretQueryKeys are query parameters that some cameras use for credentials
// (for example Dahua's "?user=admin&password=…"); their values are redacted.
var secretQueryKeys = []string{"user", "username", "pass", "password", "pwd", "passwd", "token", "auth", "key", "secret"}

// pathSecret matches a credential-like parameter in a URL's path, such as
// ";password=…" or "/user=…" (cameras that take their credentials there):
// the key with its separator, then the value.
var pathSecret = regexp.MustCompile(`(?i)([;/&](?:` + strings.Join(secretQueryKeys, "|") + `)=)[^;/&?#]*`)

// Redact returns rawURL without credentials: user info becomes "***" and the
// values of credential-like query and path parameters (";password=…")
// become "***". It never fails:
// an unparsable URL is reduced to its scheme, so that a typo in a password
// cannot leak through an error message.
func Redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		if i := strings.Index(rawURL, "://"); i > 0 && i < 10 {
			return rawURL[:i] + "://<unparsable>"
		}
		return "<unparsable url>"
	}
	hadUser := u.User != nil
	u.User = nil
	if u.RawQuery != "" {
		q := u.Query()
		for k := range q {
			for _, s := range secretQueryKeys {
				if strings.EqualFold(k, s) {
					q.Set(k, "***")
				}
			}
		}
		u.RawQuery = strings.ReplaceAll(q.Encode(), "%2A%2A%2A", "***")
	}
	s := u.String()
	if i := strings.IndexAny(s, "?#"); i >= 0 {
		s = pathSecret.ReplaceAllString(s[:i], "${1}***") + s[i:]
	} else {
		s = pathSecret.ReplaceAllString(s, "${1}***")
	}
	if hadUser {
		// url.User would escape the stars.
		s = strings.Replace(s, "://", "://***@", 1)
	}
	return s
}
