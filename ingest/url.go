package ingest

import (
	"fmt"
	"net/url"

	"github.com/earshot/earshot/ingest/sdk"
)

// ValidateURL checks that raw is an rtsp:// or rtsps:// URL with a host. Its
// errors name the URL with credentials redacted.
func ValidateURL(raw string) error {
	if raw == "" {
		return fmt.Errorf("url is empty")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("url %s does not parse", sdk.Redact(raw))
	}
	if u.Scheme != "rtsp" && u.Scheme != "rtsps" {
		return fmt.Errorf("url %s: scheme must be rtsp or rtsps", sdk.Redact(raw))
	}
	if u.Host == "" {
		return fmt.Errorf("url %s has no host", sdk.Redact(raw))
	}
	return nil
}
