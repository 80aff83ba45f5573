package sdk_test

import (
	"log/slog"
	"testing"

	"github.com/earshot/earshot/ingest/sdk"
	"github.com/earshot/earshot/ingest/sdk/sdktest"
)

func TestRedirects(t *testing.T) {
	sdktest.Redirects(t, func(t *testing.T, logger *slog.Logger) sdktest.Backend {
		return newSDK(t, sdk.Options{Logger: logger})
	}, 1)
}
